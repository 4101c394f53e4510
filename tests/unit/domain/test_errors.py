from __future__ import annotations

from pathlib import Path

import pytest

from iotdm.domain.errors import E, PlatformError

REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "spec" / "api-reference.txt"


def test_codes_are_unique() -> None:
    codes = [e.spec.code for e in E]
    assert len(codes) == len(set(codes))


def test_no_error_leaves_with_a_success_status() -> None:
    assert all(e.spec.status >= 400 for e in E)


@pytest.mark.skipif(not REFERENCE.exists(), reason="the reference is not beside this checkout")
@pytest.mark.parametrize("error", list(E), ids=lambda e: e.spec.code)
def test_text_stands_verbatim_at_the_cited_line(error: E) -> None:
    line = REFERENCE.read_text(encoding="utf-8").splitlines()[error.spec.line - 1]
    status, code, text = line.split("\t")[:3]
    assert code == error.spec.code
    assert text == error.spec.text
    # Rows that pair an error with 200 take the 4xx of G1; every other row keeps the reference's status.
    assert int(status) in (error.spec.status, 200)


def test_error_body_shape() -> None:
    exc = PlatformError(E.DEVICE_NOT_FOUND)
    assert exc.status == 404
    assert exc.body() == {"error_code": "100403", "error_desc": "The device is not existed."}
