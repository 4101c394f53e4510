"""Device CONNECT credentials (chapter 8 L25110, DECISIONS M1): the clientId layout and the password check."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum

# MQTT 3.1.1 CONNACK return codes the platform uses.
CONNACK_ACCEPTED = 0
CONNACK_BAD_PROTOCOL = 1
CONNACK_IDENTIFIER_REJECTED = 2
CONNACK_BAD_CREDENTIALS = 4
CONNACK_NOT_AUTHORIZED = 5

_TIMESTAMP = re.compile(r"\d{10}")


class AuthType(IntEnum):
    DEVICE_ID = 0
    ONE_MODEL_ONE_SECRET = 1
    NODE_ID = 2


@dataclass(frozen=True, slots=True)
class ClientId:
    device_ref: str  # a deviceId (authType 0) or nodeId (authType 2)
    auth_type: AuthType
    check_time: bool  # signType 1
    timestamp: str  # YYYYMMDDHH, UTC
    hour: datetime


def parse_client_id(client_id: str) -> ClientId | None:
    """``{id}_{authType}_{signType}_{YYYYMMDDHH}``; None when malformed (CONNACK 2). The id may contain ``_``."""
    parts = client_id.rsplit("_", 3)
    if len(parts) != 4:
        return None
    device_ref, auth_type, sign_type, timestamp = parts
    if not device_ref or auth_type not in ("0", "1", "2") or sign_type not in ("0", "1"):
        return None
    if not _TIMESTAMP.fullmatch(timestamp):
        return None
    try:
        hour = datetime.strptime(timestamp, "%Y%m%d%H").replace(tzinfo=UTC)
    except ValueError:
        return None
    return ClientId(device_ref, AuthType(int(auth_type)), sign_type == "1", timestamp, hour)


def expected_password(secret: str, timestamp: str) -> str:
    """HMAC-SHA256 with the timestamp as key and the device secret as message, as 64 hex characters."""
    return hmac.new(timestamp.encode(), secret.encode(), hashlib.sha256).hexdigest()


def password_matches(password: bytes | None, secret: str, timestamp: str) -> bool:
    if password is None:
        return False
    try:
        given = password.decode("ascii").lower()
    except UnicodeDecodeError:
        return False
    return hmac.compare_digest(given, expected_password(secret, timestamp))


def timestamp_fresh(client: ClientId, now: datetime, tolerance_hours: float = 1.0) -> bool:
    """signType 1: the clientId's hour within the tolerance of platform time; signType 0 is never checked."""
    if not client.check_time:
        return True
    return abs((now - client.hour).total_seconds()) <= tolerance_hours * 3600
