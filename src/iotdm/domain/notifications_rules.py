"""The ``ruleEvent`` push (§1.6.7.13 L3752): a pure builder, arguments in, JSON-ready dict out.

The reference has no rule API, so nothing triggers it until a rule engine exists (digest §8). Every documented
key is present (G3), optional ones as None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from iotdm.domain.notify_types import NotifyType
from iotdm.domain.times import format_time

AUTHOR_MAX = 256  # L3778


@dataclass(frozen=True)
class Reason:
    """A condition that was met (Reason structure, L3788)."""

    satisfied_at: datetime
    type: str
    id: str | None = None
    info: Any = None
    trans_info: Any = None

    def json(self) -> dict[str, Any]:
        return {
            "satisfactionTime": format_time(self.satisfied_at),
            "type": self.type,
            "id": self.id,
            "info": self.info,
            "transInfo": self.trans_info,
        }


@dataclass(frozen=True)
class ActionResult:
    """What an action did (ActionResult structure, L3798): an ``exception`` when the rule engine could not build
    its request, else its ``result`` (statusCode + body for DEVICE_CMD, SMS, EMAIL); exactly one of the two."""

    type: str
    id: str | None = None
    exception: str | None = None
    result: Any = None
    info: Any = None
    trans_info: Any = None

    def __post_init__(self) -> None:
        if (self.exception is None) == (self.result is None):
            raise ValueError("an action result carries either an exception or a result")

    def json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "id": self.id,
            "exception": self.exception,
            "result": self.result,
            "info": self.info,
            "transInfo": self.trans_info,
        }


def rule_event(
    author: str,
    rule_id: str,
    rule_name: str,
    logic: str | None,
    reasons: Sequence[Reason],
    triggered_at: datetime,
    actions: Sequence[ActionResult],
) -> dict[str, Any]:
    """§1.6.7.13: the rule ``rule_id`` fired because of ``reasons`` and ran ``actions``."""
    if len(author) > AUTHOR_MAX:
        raise ValueError(f"author is longer than {AUTHOR_MAX} characters")
    return {
        "notifyType": NotifyType.RULE_EVENT.value,
        "author": author,
        "ruleId": rule_id,
        "ruleName": rule_name,
        "logic": logic,
        "reasons": [reason.json() for reason in reasons],
        "triggerTime": format_time(triggered_at),
        "actionsResults": [action.json() for action in actions],
    }
