"""Which catalogue code answers a request that fails validation, per route.

The reference gives each API its own "invalid input" code (50400 for registration, 100022 for modification,
100405/100216 for queries, ...), sometimes a different one for particular fields (100440 for isSecure).
Routes declare theirs with ``@on_invalid``; the exception handler looks it up by endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from iotdm.domain.errors import E

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class InvalidInputRule:
    default: E
    by_field: dict[str, E] = field(default_factory=dict)

    def code_for(self, errors: Sequence[Any]) -> E:
        for err in errors:
            for part in err.get("loc", ()):
                if isinstance(part, str) and part in self.by_field:
                    return self.by_field[part]
        return self.default


_RULES: dict[Callable[..., Any], InvalidInputRule] = {}
_FALLBACK = InvalidInputRule(E.INPUT_INVALID_50400)


def on_invalid(default: E, **by_field: E) -> Callable[[F], F]:
    def register(endpoint: F) -> F:
        _RULES[endpoint] = InvalidInputRule(default, by_field)
        return endpoint

    return register


def rule_for(endpoint: Callable[..., Any] | None) -> InvalidInputRule:
    return _RULES.get(endpoint, _FALLBACK) if endpoint is not None else _FALLBACK
