"""Applications on the MQTT listener (DECISIONS S5): the ``AppGateway`` the transport calls, and where each app's
clients are connected, so that any node can answer ``clientIds`` and only the node holding a client delivers
the app's MQTT pushes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from iotdm.domain.device_auth import CONNACK_BAD_CREDENTIALS, CONNACK_IDENTIFIER_REJECTED
from iotdm.domain.errors import E, PlatformError
from iotdm.services.apps import AppService
from iotdm.services.cluster import Cluster
from iotdm.services.device_port import AppLink, AppSession, ConnectRefused, ConnectRequest
from iotdm.store import app_clients, nodes
from iotdm.store.engine import Database

# Message to the node holding an app client's older session: a newer one started elsewhere.
_CLOSE = "close-app-client"

# The longest clientId an app client may have (it is a key of the store).
MAX_CLIENT_ID = 256


class AppAccess:
    def __init__(self, db: Database, apps: AppService, cluster: Cluster) -> None:
        self._db = db
        self._apps = apps
        self._cluster = cluster
        self._link: AppLink | None = None
        cluster.handle(_CLOSE, self._close)
        cluster.on_gone(lambda conn, node_id, _now: app_clients.forget_node(conn, node_id))

    def attach(self, link: AppLink) -> None:
        """The transport that holds this node's app clients."""
        self._link = link

    async def authenticate_app(self, request: ConnectRequest) -> AppSession:
        """Username the appId, password its current accessToken. A username that names no app means the client
        is neither a device (its clientId is not M1's) nor an app: identifier rejected, as for devices."""
        if not request.username:
            raise ConnectRefused(CONNACK_IDENTIFIER_REJECTED, "neither a device's clientId nor an app's username")
        if len(request.client_id) > MAX_CLIENT_ID:
            raise ConnectRefused(CONNACK_IDENTIFIER_REJECTED, f"clientId longer than {MAX_CLIENT_ID} characters")
        token = (request.password or b"").decode(errors="replace")
        try:
            await self._apps.verify_token(request.username, token)
        except PlatformError as refused:
            if refused.error is E.APP_NOT_EXISTED:
                raise ConnectRefused(CONNACK_IDENTIFIER_REJECTED, "no such app") from refused
            raise ConnectRefused(CONNACK_BAD_CREDENTIALS, "not the app's current accessToken") from refused
        return AppSession(request.username, request.client_id)

    async def app_connected(self, app: AppSession) -> None:
        here = self._cluster.node_id

        def claim(conn: sa.Connection) -> None:
            previous = app_clients.claim(conn, app.app_id, app.client_id, here, app.session_id)
            if previous is not None and previous["node_id"] != here:
                close = {"kind": _CLOSE, "app": app.app_id, "client": app.client_id, "session": previous["session_id"]}
                nodes.notify(conn, previous["node_id"], close)

        await self._db.write(claim)

    async def app_disconnected(self, app: AppSession) -> None:
        await self._db.write(lambda conn: app_clients.release(conn, app.app_id, app.client_id, app.session_id))

    async def _close(self, message: dict[str, Any]) -> None:
        if self._link is not None:
            self._link.close_app(message["app"], message["client"], message["session"])
