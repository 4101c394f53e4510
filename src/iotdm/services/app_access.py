"""Applications on the MQTT listener (DECISIONS S5): the ``AppGateway`` the transport calls at CONNECT."""

from __future__ import annotations

from iotdm.domain.device_auth import CONNACK_BAD_CREDENTIALS, CONNACK_IDENTIFIER_REJECTED
from iotdm.domain.errors import E, PlatformError
from iotdm.services.apps import AppService
from iotdm.services.device_port import AppSession, ConnectRefused, ConnectRequest


class AppAccess:
    def __init__(self, apps: AppService) -> None:
        self._apps = apps

    async def authenticate_app(self, request: ConnectRequest) -> AppSession:
        """Username the appId, password its current accessToken. A username that names no app means the client
        is neither a device (its clientId is not M1's) nor an app: identifier rejected, as for devices."""
        if not request.username:
            raise ConnectRefused(CONNACK_IDENTIFIER_REJECTED, "neither a device's clientId nor an app's username")
        token = (request.password or b"").decode(errors="replace")
        try:
            await self._apps.verify_token(request.username, token)
        except PlatformError as refused:
            if refused.error is E.APP_NOT_EXISTED:
                raise ConnectRefused(CONNACK_IDENTIFIER_REJECTED, "no such app") from refused
            raise ConnectRefused(CONNACK_BAD_CREDENTIALS, "not the app's current accessToken") from refused
        return AppSession(request.username, request.client_id)
