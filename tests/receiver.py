"""Push receivers for tests: a callback server in the test process, and ``Inbox``, what one app is pushed.

``Receiver`` is a threaded HTTP server that records every POST and answers each path as told: 200, 500, or
never (a stalled callback). ``shared()`` is one receiver for the whole test session; each ``Inbox`` takes a
path of its own on it, so subscriptions made by earlier tests keep being answered and never pile up retries.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa

from iotdm.store.schema import outbox, pushes
from tests.harness import App

SUBSCRIPTIONS = "/iocm/app/sub/v1.2.0/subscriptions"


class Answer(StrEnum):
    OK = "ok"  # 200, no body
    FAIL = "fail"  # 500
    STALL = "stall"  # no answer at all until the receiver closes


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]  # names in lower case
    raw: bytes
    status: int | None  # what was answered; None when stalled
    at: float  # time.monotonic() on arrival

    @property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed


class Receiver:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """``tls``: serve HTTPS with this server context."""
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[Request] = []
        self._answers: dict[str, Answer] = {}
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._scheme = "http" if tls is None else "https"
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, answer: Answer) -> None:
        """How to answer requests to ``path`` from now on (default OK)."""
        with self._lock:
            self._answers[path] = answer

    def requests(self, path: str | None = None) -> list[Request]:
        """Every request (to ``path``), in arrival order, answered or not."""
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def delivered(self, path: str | None = None) -> list[dict[str, Any]]:
        """The bodies of the requests answered 2xx (to ``path``), in arrival order."""
        return [r.body for r in self.requests(path) if r.status is not None and 200 <= r.status < 300]

    def wait_for(self, path: str | None, count: int, seconds: float = 10.0) -> list[Request]:
        """Block until ``count`` requests (to ``path``) arrived; fail after ``seconds``."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while len(found := [r for r in self._requests if path is None or r.path == path]) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(found)} of {count} requests to {path} arrived within {seconds} s"
                self._changed.wait(left)
            return found

    def close(self) -> None:
        """Stop listening; stalled requests are dropped unanswered."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def _record(self, request: Request) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the platform's client expects

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            with receiver._lock:
                answer = receiver._answers.get(self.path, Answer.OK)
            status = {Answer.OK: 200, Answer.FAIL: 500, Answer.STALL: None}[answer]
            # Recorded before answering: once the platform hears 200, the push is visible here.
            receiver._record(Request(self.path, headers, raw, status, time.monotonic()))
            if status is None:
                receiver._closing.wait()
                self.close_connection = True
                return
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


_shared: Receiver | None = None
_shared_lock = threading.Lock()


def shared() -> Receiver:
    """The session's receiver, started on first use and never closed."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Receiver()
        return _shared


def subscribe(app: App, notify_type: str, callback_url: str, **body: Any) -> str:
    """Subscribe through the API (§1.6.1); answer the subscriptionId."""
    r = app.http.post(SUBSCRIPTIONS, json={"notifyType": notify_type, "callbackUrl": callback_url, **body})
    assert r.status_code == 201, r.text
    subscription_id: str = r.json()["subscriptionId"]
    return subscription_id


class Inbox:
    """What one app is pushed of the given notifyTypes: one subscription each, all to one path of a receiver."""

    def __init__(self, app: App, *notify_types: str, receiver: Receiver | None = None, **subscription: Any) -> None:
        """``subscription``: further fields of each subscription's body (``appId``, ``channel``)."""
        self.app = app
        self.receiver = receiver or shared()
        self.path = f"/inbox/{uuid.uuid4().hex}"
        self.url = self.receiver.url(self.path)
        self.subscription_ids = [subscribe(app, t, self.url, **subscription) for t in notify_types]

    def pushes(self, notify_type: str | None = None) -> list[dict[str, Any]]:
        """The pushes delivered so far (of one notifyType), in arrival order."""
        return [p for p in self.receiver.delivered(self.path) if notify_type is None or p["notifyType"] == notify_type]

    def wait(self, count: int, notify_type: str | None = None, seconds: float = 10.0) -> list[dict[str, Any]]:
        """Block until ``count`` pushes (of one notifyType) arrived; answer them all."""
        deadline = time.monotonic() + seconds
        while len(found := self.pushes(notify_type)) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} {notify_type or 'pushes'} in {seconds} s"
            time.sleep(0.02)
        return found

    def settled(self, notify_type: str | None = None, seconds: float = 10.0) -> list[dict[str, Any]]:
        """The pushes (of one notifyType) once every event committed so far has been delivered.

        The one look into the store: a barrier, so that "not pushed" means "never sent" rather than "not yet".
        """
        node = self.app.node
        mark = node.read(lambda conn: conn.execute(sa.select(sa.func.max(outbox.c.id))).scalar())
        ids = self.subscription_ids

        def pending(conn: sa.Connection) -> bool:
            if mark is not None and conn.execute(sa.select(outbox.c.id).where(outbox.c.id <= mark).limit(1)).first():
                return True
            waiting = sa.select(pushes.c.id).where(pushes.c.subscription_id.in_(ids)).limit(1)
            return conn.execute(waiting).first() is not None

        deadline = time.monotonic() + seconds
        while node.read(pending):
            assert time.monotonic() < deadline, f"pushes to {self.path} still pending after {seconds} s"
            time.sleep(0.02)
        return self.pushes(notify_type)
