"""Nothing the platform offers goes undocumented or untested."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotdm.domain.errors import E
from iotdm.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme(name: str) -> None:
    assert f"IOTDM_{name.upper()}" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("error", list(E), ids=lambda e: e.spec.code)
def test_every_error_code_is_triggered_by_an_api_test(error: E) -> None:
    tests = "".join(path.read_text() for path in (ROOT / "tests" / "api").glob("test_*.py"))
    assert f'"{error.spec.code}"' in tests
