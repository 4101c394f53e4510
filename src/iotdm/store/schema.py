"""The database schema. Times are UTC epoch milliseconds (BigInteger): portable, compact and fast to compare.

Every change here needs an Alembic migration in ``migrations/versions``.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

apps = sa.Table(
    "apps",
    metadata,
    sa.Column("app_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("rate_limit", sa.Integer, nullable=True),  # None = the server default
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("access_token_hash", sa.String(64), nullable=True),
    sa.Column("access_expires_at", sa.BigInteger, nullable=True),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(64), sa.ForeignKey("apps.app_id", ondelete="CASCADE"), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
)

app_grants = sa.Table(
    "app_grants",
    metadata,
    sa.Column("owner_app_id", sa.String(64), sa.ForeignKey("apps.app_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("grantee_app_id", sa.String(64), sa.ForeignKey("apps.app_id", ondelete="CASCADE"), primary_key=True),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(64), sa.ForeignKey("apps.app_id"), nullable=False),
    sa.Column("gateway_id", sa.String(64), nullable=False, index=True),
    sa.Column("node_type", sa.String(16), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("modified_at", sa.BigInteger, nullable=False),
    sa.Column("last_online_at", sa.BigInteger, nullable=True),
    # credentials and registration
    sa.Column("verify_code", sa.String(256), nullable=True),
    sa.Column("psk_enc", sa.Text, nullable=True),
    sa.Column("secret_enc", sa.Text, nullable=True),
    sa.Column("timeout", sa.Integer, nullable=True),
    sa.Column("activated", sa.Boolean, nullable=False),
    sa.Column("mqtt_connect", sa.Boolean, nullable=False),
    sa.Column("is_secure", sa.Boolean, nullable=False),
    # DeviceInfo (§1.5.1 DeviceInfoQueryDTO)
    sa.Column("node_id", sa.String(256), nullable=False, unique=True),
    sa.Column("name", sa.String(256), nullable=True, index=True),
    sa.Column("description", sa.String(2048), nullable=True),
    sa.Column("manufacturer_id", sa.String(256), nullable=True),
    sa.Column("manufacturer_name", sa.String(256), nullable=True),
    sa.Column("mac", sa.String(256), nullable=True),
    sa.Column("location", sa.String(2048), nullable=True),
    sa.Column("device_type", sa.String(256), nullable=True, index=True),
    sa.Column("model", sa.String(256), nullable=True),
    sa.Column("sw_version", sa.String(256), nullable=True),
    sa.Column("fw_version", sa.String(256), nullable=True),
    sa.Column("hw_version", sa.String(256), nullable=True),
    sa.Column("imsi", sa.String(64), nullable=True),
    sa.Column("protocol_type", sa.String(256), nullable=True),
    sa.Column("radius_ip", sa.String(256), nullable=True),
    sa.Column("bridge_id", sa.String(256), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_detail", sa.String(64), nullable=False),
    sa.Column("mute", sa.String(8), nullable=False),
    sa.Column("supported_security", sa.String(8), nullable=True),
    sa.Column("signal_strength", sa.String(256), nullable=True),
    sa.Column("sig_version", sa.String(256), nullable=True),
    sa.Column("serial_number", sa.String(256), nullable=True),
    sa.Column("battery_level", sa.String(256), nullable=True),
    # management attributes (§1.4.2, §1.4.4)
    sa.Column("product_id", sa.String(256), nullable=True),
    sa.Column("end_user", sa.String(256), nullable=True),
    sa.Column("organization", sa.String(256), nullable=True),
    sa.Column("region", sa.String(256), nullable=True),
    sa.Column("timezone", sa.String(256), nullable=True),
    sa.Column("ip", sa.String(128), nullable=True),
    sa.Column("data_aging_time", sa.Integer, nullable=True),
    sa.Column("custom_fields", sa.JSON, nullable=True),
    sa.Column("tags", sa.JSON, nullable=True),
    # where the device's MQTT session lives (the device -> node map): the node, and the connection on it
    sa.Column("session_node", sa.String(32), nullable=True, index=True),
    sa.Column("session_id", sa.String(32), nullable=True),
    sa.Index("ix_devices_app_created", "app_id", "created_at", "device_id"),
)

device_services = sa.Table(
    "device_services",
    metadata,
    sa.Column("device_id", sa.String(64), sa.ForeignKey("devices.device_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("service_id", sa.String(256), primary_key=True),
    sa.Column("service_type", sa.String(256), nullable=True),
    sa.Column("data", sa.JSON, nullable=True),  # the latest reported properties
    sa.Column("event_time", sa.BigInteger, nullable=True),
    sa.Column("desired", sa.JSON, nullable=True),  # the shadow's desired properties
)

desired_history = sa.Table(
    "desired_history",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("device_id", sa.String(64), sa.ForeignKey("devices.device_id", ondelete="CASCADE"), nullable=False),
    sa.Column("gateway_id", sa.String(64), nullable=False),
    sa.Column("app_id", sa.String(64), nullable=False),
    sa.Column("service_id", sa.String(256), nullable=False),
    sa.Column("desired", sa.JSON, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # PENDING until delivered to the device
    sa.Index("ix_desired_history_device_ts", "device_id", "timestamp"),
)

# Every accepted report, one row per service (§1.5.3); the newest values also live in device_services.
data_history = sa.Table(
    "data_history",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("gateway_id", sa.String(64), nullable=False),
    sa.Column("app_id", sa.String(64), nullable=False),
    sa.Column("service_id", sa.String(256), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Index("ix_data_history_device_ts", "device_id", "timestamp"),
)

# Transactional outbox: one row per event, written in the transaction of the change it reports.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("app_id", sa.String(64), nullable=False),
    sa.Column("notify_type", sa.String(64), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

# Durable timers: due items the scheduler applies; (kind, key) makes re-arming idempotent.
timers = sa.Table(
    "timers",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("due_at", sa.BigInteger, nullable=False, index=True),
)

# Product models (DECISIONS D6), platform-wide: keyed by the five model fields, or by product_id when given.
profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("manufacturer_id", sa.String(256), nullable=False),
    sa.Column("manufacturer_name", sa.String(256), nullable=False),
    sa.Column("device_type", sa.String(256), nullable=False),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("protocol_type", sa.String(256), nullable=False),
    sa.Column("product_id", sa.String(256), nullable=True, unique=True),
    sa.Column("profile", sa.JSON, nullable=False),  # the normalized profile (domain.profiles.to_json)
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # Named here: the convention's name for five columns exceeds PostgreSQL's 63 characters.
    sa.UniqueConstraint(
        "manufacturer_id", "manufacturer_name", "device_type", "model", "protocol_type", name="uq_profiles_key"
    ),
)

# Subscriptions (§1.6.1, §1.6.2; DECISIONS S1): events of ``app_id``'s devices go to ``callback_url``. ``app_id`` is
# the app whose events are pushed (the ``appId`` parameter, else the caller); ``created_by`` is the caller.
subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("subscription_id", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(64), sa.ForeignKey("apps.app_id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("notify_type", sa.String(64), nullable=False),
    sa.Column("callback_url", sa.String(1024), nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),  # HTTP | MQTT
    sa.Column("owner_flag", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("app_id", "notify_type", "channel"),
)

# Pushes waiting for delivery: one row per (outbox event, matching subscription). Only the oldest row of a
# (subscription, device) is ever in flight, which keeps their order; ``claimed_until`` leases a row to one node.
pushes = sa.Table(
    "pushes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "subscription_id",
        sa.String(64),
        sa.ForeignKey("subscriptions.subscription_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("device_id", sa.String(64), nullable=False),  # "" for events of no device (product models)
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("claimed_until", sa.BigInteger, nullable=True),
    sa.Column("last_error", sa.String(1024), nullable=True),
    sa.Index("ix_pushes_key", "subscription_id", "device_id", "id"),
    sa.Index("ix_pushes_next_attempt_at", "next_attempt_at"),
)

# Pushes given up on after the retry period (DECISIONS S3); the subscription's delivery fields are copied so a
# dead letter stays readable after its subscription is gone.
dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("subscription_id", sa.String(64), nullable=False),
    sa.Column("app_id", sa.String(64), nullable=False),
    sa.Column("notify_type", sa.String(64), nullable=False),
    sa.Column("callback_url", sa.String(1024), nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.String(1024), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("failed_at", sa.BigInteger, nullable=False, index=True),
)


# The platform's running nodes; one that stopped updating ``seen_at`` is gone, and its sessions with it.
nodes = sa.Table(
    "nodes",
    metadata,
    sa.Column("node_id", sa.String(32), primary_key=True),
    sa.Column("started_at", sa.BigInteger, nullable=False),
    sa.Column("seen_at", sa.BigInteger, nullable=False),
)

# Applications connected to a node's MQTT listener to take their pushes (DECISIONS S5).
app_clients = sa.Table(
    "app_clients",
    metadata,
    sa.Column("app_id", sa.String(64), sa.ForeignKey("apps.app_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("client_id", sa.String(256), primary_key=True),
    sa.Column("node_id", sa.String(32), nullable=False, index=True),
    sa.Column("session_id", sa.String(32), nullable=False),
)
