"""HTTP delivery: POST the push body to the subscription's callbackUrl; any 2xx answer is a delivery."""

from __future__ import annotations

import httpx

from iotdm.push.channel import DeliveryError, Target

_HEADERS = {"Content-Type": "application/json", "User-Agent": "iotdm"}


class HttpChannel:
    """One client for every callback: connections are kept alive and shared by the pushes to each host."""

    def __init__(self, *, timeout: float, verify_tls: bool, connections: int) -> None:
        self._client = httpx.AsyncClient(
            timeout=timeout,
            verify=verify_tls,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    async def send(self, target: Target, body: bytes) -> None:
        try:
            response = await self._client.post(target.callback_url, content=body, headers=_HEADERS)
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"timeout ({type(exc).__name__})") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryError(f"HTTP {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()
