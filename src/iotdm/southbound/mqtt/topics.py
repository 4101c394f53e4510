"""The topics of chapter 8 (L25081, L25090), the ACL of DECISIONS M2 (a device only ever uses its own), and the
one topic of an application that takes its pushes over MQTT (DECISIONS S5)."""

from __future__ import annotations

_PREFIX = "/huawei/v1/devices/"
CODEC_MODES = ("json", "binary")


def data_topics(topic_id: str) -> frozenset[str]:
    """Where the device publishes its reports and answers."""
    return frozenset(f"{_PREFIX}{topic_id}/data/{mode}" for mode in CODEC_MODES)


def command_topics(topic_id: str) -> frozenset[str]:
    """What the device subscribes to: commands and shadow updates from the platform."""
    return frozenset(command_topic(topic_id, mode) for mode in CODEC_MODES)


def codec_mode(topic: str) -> str:
    return topic.rsplit("/", 1)[-1]


def command_topic(topic_id: str, mode: str = "json") -> str:
    return f"{_PREFIX}{topic_id}/command/{mode}"


def app_topic(app_id: str) -> str:
    """Where an application connected over MQTT receives its pushes (DECISIONS S5; docs/device-protocol.md)."""
    return f"/huawei/v1/apps/{app_id}/notifications"
