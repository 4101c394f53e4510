"""The error catalogue: each platform error code with its HTTP status and the reference's text.

Raise sites name only the code (``PlatformError(E.DEVICE_NOT_FOUND)``), so one code always leaves with one
status and one text. Statuses follow DECISIONS G1: never a 2xx for an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class ErrorSpec:
    code: str
    status: int
    text: str
    line: int  # where the row stands in spec/api-reference.txt


class E(Enum):
    INTERNAL = ErrorSpec("100001", 500, "Internal server error.", 775)
    INPUT_INVALID = ErrorSpec("100022", 400, "The input is invalid.", 1118)
    INPUT_INVALID_50400 = ErrorSpec("50400", 400, "The input is invalid.", 638)
    APP_KEY_MISSING = ErrorSpec("100025", 401, "AppId for auth not exist.", 767)
    APP_NOT_EXISTED = ErrorSpec("100203", 403, "The application is not existed.", 768)
    APP_SECRET_WRONG = ErrorSpec("100208", 401, "AppId or secret is not right.", 565)
    APP_INPUT_INVALID = ErrorSpec("100216", 400, "The application input is invalid.", 1920)
    APP_NOT_AUTHORIZED = ErrorSpec("100217", 403, "The application hasn't been authorized.", 891)
    GATEWAY_AND_PAGE_NULL = ErrorSpec("100218", 400, "The gatewayId and pageNo cannot be both null.", 1921)
    # §1.6.2's row for 100222 reads "Internal server error." (L2509); one code keeps one text, §1.6.1's.
    CALLBACK_URL_ILLEGAL = ErrorSpec("100222", 400, "The request callbackurl is illegal.", 2443)
    TOO_MANY_RESULTS = ErrorSpec("100224", 400, "The resource exceeds 1000, please refinement query conditions.", 2666)
    RESOURCE_NOT_FOUND = ErrorSpec("100225", 404, "The resource is not found", 2730)
    RESOURCE_CONFLICT = ErrorSpec("100227", 409, "The resource is conflicted.", 2447)
    SUBSCRIPTION_INPUT_INVALID = ErrorSpec("100228", 400, "The application input is invalid.", 2510)
    DEVICE_NOT_FOUND = ErrorSpec("100403", 404, "The device is not existed.", 999)
    PARAMETER_INVALID = ErrorSpec("100405", 400, "The request parameter is invalid.", 1682)
    DEVICE_DATA_NOT_FOUND = ErrorSpec("100418", 404, "The deviceData is not existed.", 1000)
    DEVICE_AND_GATEWAY_NULL = ErrorSpec("100419", 400, "The deviceId and gatewayId can't be both null.", 2032)
    NODE_ID_DUPLICATED = ErrorSpec("100426", 400, "The nodeId is duplicated.", 765)
    SERVICE_TYPE_NOT_FOUND = ErrorSpec("100431", 400, "The serviceType is not exist.", 1357)
    PROPERTY_NOT_WRITABLE = ErrorSpec("100443", 403, "The property is forbidden to write.", 1365)
    PROPERTIES_EMPTY = ErrorSpec("107002", 400, "The properties is empty in database.", 1358)
    PROPERTIES_UNKNOWN = ErrorSpec("107003", 400, "The request properties is unknown.", 1359)
    IS_SECURE_INVALID = ErrorSpec("100440", 400, "The isSecure is invalid.", 1119)
    DEVICE_ONLINE = ErrorSpec("100611", 400, "Device is online.", 990)
    REQUIRED_PARAMETER_EMPTY = ErrorSpec("102202", 400, "Required Parameter is null or empty.", 564)
    TOKEN_INVALID = ErrorSpec("1010005", 403, "App_key or access_token is invalid.", 773)
    PRODUCT_NOT_EXISTED = ErrorSpec("600002", 403, "The product not existed.", 774)
    THROTTLED = ErrorSpec("1010009", 403, "app throttle exceed.", 770)

    @property
    def spec(self) -> ErrorSpec:
        return self.value


class PlatformError(Exception):
    """A failure the client is told about with a catalogue code."""

    def __init__(self, error: E, detail: str | None = None) -> None:
        super().__init__(detail or error.spec.text)
        self.error = error
        self.detail = detail

    @property
    def status(self) -> int:
        return self.error.spec.status

    def body(self) -> dict[str, str]:
        return {"error_code": self.error.spec.code, "error_desc": self.error.spec.text}
