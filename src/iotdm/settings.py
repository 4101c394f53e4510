"""One Settings object: ``IOTDM_*`` environment variables, overridden by command-line flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTDM_", extra="ignore")

    data_dir: Path = Field(Path("./iotdm-data"), description="Where the SQLite file, keys and certificate live.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default SQLite in the data dir, postgresql+asyncpg://... for production.",
    )
    host: str = Field("0.0.0.0", description="Address the listeners bind to.")
    http_port: int = Field(8743, ge=0, le=65535, description="Northbound HTTP(S) port; 0 picks a free port.")
    mqtt_port: int = Field(8883, ge=0, le=65535, description="Device MQTT(S) port; 0 picks a free port.")
    mqtt_max_packet_size: int = Field(
        2 * 1024 * 1024 + 1024, ge=1024, description="Largest MQTT packet accepted from a device, in bytes."
    )
    tls: bool = Field(True, description="Serve HTTPS; --no-tls serves plain HTTP (development, tests).")
    cert: Path | None = Field(None, description="PEM certificate; default a self-signed one in the data dir.")
    key: Path | None = Field(None, description="PEM private key belonging to --cert.")
    rate_limit: int = Field(100, ge=0, description="Default API calls per minute per app; 0 = unlimited (G6).")
    registration_timeout: int = Field(180, ge=0, description="Default verify-code validity in seconds (D1).")
    access_token_ttl: int = Field(3600, ge=1, description="accessToken lifetime in seconds (G4).")
    refresh_token_ttl: int = Field(30 * 86400, ge=1, description="refreshToken lifetime in seconds (G4).")
    secret_key: str | None = Field(
        None,
        description="Fernet key encrypting device secrets; default secret.key in the data dir (share it across nodes).",
    )
    log_level: str = Field("info", description="Python logging level name.")
    push_retry_period: float = Field(
        86400, ge=0, description="Seconds a failing push is retried before it becomes a dead letter (S3)."
    )
    push_timeout: float = Field(10, gt=0, description="Seconds a callback has to answer a push (S3).")
    push_verify_tls: bool = Field(True, description="Check the certificates of HTTPS callbacks (S3).")
    push_concurrency: int = Field(512, ge=1, description="Pushes in flight at once on one node.")
    push_subscription_concurrency: int = Field(
        64, ge=1, description="Pushes in flight at once per subscription, so a slow callback holds only its own."
    )
    node_timeout: float = Field(
        30,
        gt=0,
        description="Seconds after which a node not heard of is taken for gone: its devices go OFFLINE.",
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'iotdm.db').resolve()}"
