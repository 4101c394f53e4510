"""``iotdm profile import|list|delete`` as an operator runs them, with and without a running server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import Server, iotdm
from tests.profiles import EXAMPLE


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def profile() -> dict[str, Any]:
    """The documented example under a model and productId of its own (a PostgreSQL test database is shared)."""
    loaded: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    tag = uuid.uuid4().hex[:12]
    return {**loaded, "model": f"MS-{tag}", "productId": f"product-{tag}"}


def write(tmp_path: Path, content: dict[str, Any] | str) -> Path:
    path = tmp_path / f"{uuid.uuid4().hex}.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def listed(data_dir: Path) -> list[dict[str, Any]]:
    result = iotdm("profile", "list", "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    profiles: list[dict[str, Any]] = json.loads(result.stdout)
    return profiles


def test_import_list_replace_and_delete(data_dir: Path, tmp_path: Path, profile: dict[str, Any]) -> None:
    imported = iotdm("profile", "import", str(write(tmp_path, profile)), data_dir=data_dir)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert imported.stdout.startswith("imported the profile") and profile["model"] in imported.stdout

    [mine] = [p for p in listed(data_dir) if p["productId"] == profile["productId"]]
    assert mine["model"] == profile["model"] and mine["serviceIds"] == ["Climate", "Battery", "Settings"]
    table = iotdm("profile", "list", data_dir=data_dir)
    assert table.returncode == 0 and profile["model"] in table.stdout and "Climate, Battery, Settings" in table.stdout

    fewer = {**profile, "services": profile["services"][:1]}
    replaced = iotdm("profile", "import", str(write(tmp_path, fewer)), data_dir=data_dir)
    assert replaced.returncode == 0 and replaced.stdout.startswith("replaced the profile")
    assert [p["serviceIds"] for p in listed(data_dir) if p["productId"] == profile["productId"]] == [["Climate"]]

    deleted = iotdm("profile", "delete", "--product-id", profile["productId"], data_dir=data_dir)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert profile["productId"] not in [p["productId"] for p in listed(data_dir)]
    again = iotdm("profile", "delete", "--product-id", profile["productId"], data_dir=data_dir)
    assert again.returncode == 1 and "no such profile" in again.stdout


def test_delete_by_the_five_model_options(data_dir: Path, tmp_path: Path, profile: dict[str, Any]) -> None:
    assert iotdm("profile", "import", str(write(tmp_path, profile)), data_dir=data_dir).returncode == 0
    options = {
        "--manufacturer-id": profile["manufacturerId"],
        "--manufacturer-name": profile["manufacturerName"],
        "--device-type": profile["deviceType"],
        "--model": profile["model"],
        "--protocol-type": profile["protocolType"],
    }
    partial = iotdm("profile", "delete", "--model", profile["model"], data_dir=data_dir)
    assert partial.returncode == 2
    flags = [part for pair in options.items() for part in pair]
    deleted = iotdm("profile", "delete", *flags, data_dir=data_dir)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert profile["model"] not in [p["model"] for p in listed(data_dir)]


def test_an_invalid_profile_exits_1_with_the_reason(data_dir: Path, tmp_path: Path, profile: dict[str, Any]) -> None:
    profile["services"][2]["properties"][0]["method"] = "RX"
    result = iotdm("profile", "import", str(write(tmp_path, profile)), data_dir=data_dir)
    assert result.returncode == 1
    assert "services[2].properties[0].method: must combine R, W and E" in result.stdout
    assert profile["model"] not in [p["model"] for p in listed(data_dir)]


def test_a_file_that_is_not_json_exits_1(data_dir: Path, tmp_path: Path) -> None:
    result = iotdm("profile", "import", str(write(tmp_path, "{services: [")), data_dir=data_dir)
    assert result.returncode == 1
    assert "is not a JSON document" in result.stdout


def test_a_missing_file_is_a_usage_error(data_dir: Path, tmp_path: Path) -> None:
    assert iotdm("profile", "import", str(tmp_path / "absent.json"), data_dir=data_dir).returncode == 2


def test_an_import_beside_a_running_server_answers_section_1_5_5(
    data_dir: Path, tmp_path: Path, profile: dict[str, Any]
) -> None:
    server = Server(data_dir, "--no-tls")
    try:
        app = json.loads(iotdm("app", "create", "fleet", "--json", data_dir=data_dir).stdout)
        assert iotdm("profile", "import", str(write(tmp_path, profile)), data_dir=data_dir).returncode == 0
        with httpx.Client(base_url=server.url, timeout=30) as http:
            token = http.post("/iocm/app/sec/v1.1.0/login", data=app).json()["accessToken"]
            http.headers.update({"app_key": app["appId"], "Authorization": f"Bearer {token}"})
            info = {name: profile[name] for name in ("manufacturerId", "manufacturerName", "deviceType", "model")}
            registered = http.post(
                "/iocm/app/reg/v1.1.0/deviceCredentials",
                json={"nodeId": uuid.uuid4().hex, "deviceInfo": {**info, "protocolType": profile["protocolType"]}},
            )
            assert registered.status_code == 200, registered.text
            device_id = registered.json()["deviceId"]
            answer = http.get("/iocm/app/data/v1.1.0/deviceCapabilities", params={"deviceId": device_id}).json()
        [entry] = answer["deviceCapabilities"]
        assert entry["deviceId"] == device_id
        assert [s["serviceId"] for s in entry["serviceCapabilities"]] == ["Climate", "Battery", "Settings"]
    finally:
        assert server.stop() == 0
