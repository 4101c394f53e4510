"""What the benchmarks share: free ports, machine CPU time, the iotdm executable, the event loop, progress lines."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import sysconfig
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (all cores) since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is already counted in user


def default_iotdm() -> str:
    # The installed script itself rather than a shim (pyenv's), so the child's pid is the server's.
    script = Path(sysconfig.get_path("scripts")) / "iotdm"
    found = str(script) if script.exists() else shutil.which("iotdm")
    if found is None:
        raise SystemExit("iotdm is not installed: pip install -e '.[test]'")
    return found


def loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """On uvloop when installed: the server runs on it too, and it halves the client's own overhead."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
