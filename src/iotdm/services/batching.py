"""Group commit: work queued while a transaction runs goes into the next one together."""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


async def next_batch(queue: asyncio.Queue[T], max_batch: int) -> list[T]:
    """Wait for one item, then take whatever else is queued, up to ``max_batch``: the batch grows with the load
    and a lone item never waits for company."""
    batch = [await queue.get()]
    while len(batch) < max_batch and not queue.empty():
        batch.append(queue.get_nowait())
    return batch
