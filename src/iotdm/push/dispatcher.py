"""The push dispatcher (DECISIONS S3): fans outbox events out to subscriptions and delivers them.

One loop, woken every ``interval`` (or sooner when a delivery slot frees up while pushes are waiting):
1. fan-out: outbox events, oldest first, become one push per matching subscription (``store.pushes``);
2. claim: heads of keys (subscription, device) that are due are leased, as many as there are free slots, at
   most ``per_subscription`` in flight per subscription, so that a stalled callback holds only its own slots
   (MQTT pushes only on a node holding a client of their app, ``store.pushes``);
3. each claimed head gets a worker that delivers it and, once it is settled, the key's next push.
Deliveries run apart from every API call and device session; their outcome never reaches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from functools import partial

import sqlalchemy as sa

from iotdm.domain.delivery import within_limit
from iotdm.push.channel import Channel, DeliveryError
from iotdm.push.settle import Push, Settler
from iotdm.services.clock import now_ms
from iotdm.store import pushes
from iotdm.store.engine import Database

log = logging.getLogger(__name__)

# A lease outlives the longest delivery by this much, so only a node that died (or hung) loses its pushes.
_LEASE_MARGIN = 30.0
# How long a freed slot waits for others before the loop claims (seconds).
_GATHER = 0.002
# On stop, deliveries under way get this long to finish before they are abandoned (and delivered again later).
_STOP_GRACE = 1.0


class Dispatcher:
    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        *,
        node_id: str,
        retry_period: float,
        timeout: float,
        concurrency: int,
        per_subscription: int,
        interval: float = 0.05,
        batch: int = 1000,
    ) -> None:
        self._db = db
        self._channels = channels
        self._node_id = node_id
        self._timeout = timeout
        self._concurrency = concurrency
        self._per_subscription = per_subscription
        self._interval = interval
        self._batch = batch
        self._lease_ms = int((timeout + _LEASE_MARGIN) * 1000)
        self._settler = Settler(db, retry_period_ms=int(retry_period * 1000), lease_ms=self._lease_ms)
        self._in_flight: dict[str, int] = {}  # subscription id -> keys being delivered
        self._workers: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._waiting = False  # due pushes were left unclaimed for want of a slot
        self._loop: asyncio.Task[None] | None = None
        self._settling: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._settling = asyncio.create_task(self._settler.run())
        self._loop = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop taking pushes; deliveries under way get a moment to finish, the others are released (and will be
        delivered again: at least once)."""
        assert self._loop is not None and self._settling is not None
        self._settler.continuing = False
        await _cancel(self._loop)
        if self._workers:
            await asyncio.wait(self._workers, timeout=_STOP_GRACE)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        await self._settler.stop()
        await _cancel(self._settling)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            again = False
            try:
                moved = await self._db.write(partial(pushes.fan_out, now=now_ms(), limit=self._batch))
                again = await self._claim() or moved == self._batch
            except Exception:
                log.exception("push dispatch failed; retrying")
            if not again:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval):
                        await self._wake.wait()
                    # Woken by a freed slot: let the deliveries finishing about now free theirs too, so that one
                    # claim serves them all instead of a transaction each.
                    await asyncio.sleep(_GATHER)

    async def _claim(self) -> bool:
        """Lease due heads for the free slots and start delivering them; True when more should be tried now."""
        free = self._concurrency - len(self._workers)
        if free <= 0:
            self._waiting = True
            return False
        busy = [sub for sub, n in self._in_flight.items() if n >= self._per_subscription]
        # Heads beyond what the subscriptions in flight have room for, plus one subscription's window, could only
        # be read to be left: the window is that, and a full one is followed by another pass at once.
        room = sum(self._per_subscription - n for n in self._in_flight.values())
        window = min(free, room + self._per_subscription)
        claim = partial(self._lease, now=now_ms(), limit=window, busy=busy, in_flight=dict(self._in_flight))
        claimed, candidates = await self._db.write(claim)
        for push in claimed:
            self._start(push)
        self._waiting = len(claimed) < candidates or candidates == window
        # A full window with slots left over: more heads may be due, or were held back by per-subscription
        # limits; look again at once, now leaving out the subscriptions that became busy.
        return candidates == window and len(claimed) < free

    def _lease(
        self, conn: sa.Connection, now: int, limit: int, busy: Sequence[str], in_flight: dict[str, int]
    ) -> tuple[list[Push], int]:
        rows = pushes.due(conn, self._node_id, now, limit, busy)
        chosen = within_limit(rows, _subscription_of, in_flight, self._per_subscription)
        token = now + self._lease_ms
        pushes.lease(conn, [row["id"] for row in chosen], token)
        return [Push.leased(row, token) for row in chosen], len(rows)

    def _start(self, push: Push) -> None:
        subscription = push.target.subscription_id
        self._in_flight[subscription] = self._in_flight.get(subscription, 0) + 1
        self._settler.hold(push)
        worker = asyncio.create_task(self._deliver(push))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _deliver(self, push: Push) -> None:
        """Deliver a head, then each next push of its key the settler hands back, until the key is empty, fails,
        or the node stops."""
        subscription = push.target.subscription_id
        current: Push | None = push
        try:
            while current is not None:
                error = await self._send(current)
                current = await self._settler.settle(current, error)
        except Exception:
            log.exception("settling a push failed; it is delivered again once its lease lapses")
        finally:
            left = self._in_flight[subscription] - 1
            if left:
                self._in_flight[subscription] = left
            else:
                del self._in_flight[subscription]
            # A slot freed up for pushes left waiting, or for a subscription that claims had to leave out.
            if self._waiting or left == self._per_subscription - 1:
                self._wake.set()

    async def _send(self, push: Push) -> str | None:
        """Deliver one push; answer None, or why it failed."""
        channel = self._channels.get(push.channel)
        if channel is None:  # e.g. MQTT before that channel exists: kept and retried, never lost
            return f"no {push.channel} channel on this node"
        try:
            async with asyncio.timeout(self._timeout):
                await channel.send(push.target, push.body)
        except DeliveryError as exc:
            return str(exc) or type(exc).__name__
        except TimeoutError:
            return f"no answer within {self._timeout:g} s"
        except Exception as exc:
            log.exception("the %s channel failed on push %d", push.channel, push.id)
            return f"{type(exc).__name__}: {exc}"
        return None


def _subscription_of(row: sa.RowMapping) -> str:
    subscription_id: str = row["subscription_id"]
    return subscription_id


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
