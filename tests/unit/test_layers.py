"""The dependency rules of docs/architecture.md, checked on the imports themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "iotdm"


def _imports(package: str) -> list[tuple[str, str]]:
    found = []
    for path in (SRC / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.append((str(path.relative_to(SRC)), node.module))
            elif isinstance(node, ast.Import):
                found.extend((str(path.relative_to(SRC)), alias.name) for alias in node.names)
    return found


@pytest.mark.parametrize(
    ("package", "allowed"),
    [
        ("domain", ("iotdm.domain",)),
        ("store", ("iotdm.store", "iotdm.domain")),
        ("services", ("iotdm.services", "iotdm.store", "iotdm.domain", "iotdm.settings")),
        ("southbound", ("iotdm.southbound", "iotdm.domain", "iotdm.services.device_port")),
        ("push", ("iotdm.push", "iotdm.services", "iotdm.store", "iotdm.domain", "iotdm.settings")),
    ],
)
def test_dependencies_point_inwards(package: str, allowed: tuple[str, ...]) -> None:
    wrong = [
        (where, module)
        for where, module in _imports(package)
        if module.startswith("iotdm") and not module.startswith(allowed)
    ]
    assert wrong == []


@pytest.mark.parametrize("package", ["domain", "store", "services"])
def test_core_knows_no_transport(package: str) -> None:
    frameworks = ("fastapi", "starlette", "uvicorn", "paho")
    assert [(w, m) for w, m in _imports(package) if m.split(".")[0] in frameworks] == []
