"""Product models for tests: the documented example under a key of its own, imported through the admin API."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.harness import PlatformThread

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "profile-multisensor.json"
PROFILES = "/admin/profiles"
KEY_NAMES = ("manufacturerId", "manufacturerName", "deviceType", "model", "protocolType")


def new_profile(**overrides: Any) -> dict[str, Any]:
    """The documented example under a model and productId of its own: profiles are shared by the session."""
    profile: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    tag = uuid.uuid4().hex[:12]
    profile.update({"model": f"MS-{tag}", "productId": f"product-{tag}", **overrides})
    return profile


def key_of(profile: dict[str, Any]) -> dict[str, str]:
    return {name: profile[name] for name in KEY_NAMES}


def import_profile(node: PlatformThread, profile: dict[str, Any], status: int = 201) -> dict[str, Any]:
    with node.admin() as admin:
        r = admin.post(PROFILES, json=profile)
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body
