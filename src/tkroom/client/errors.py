"""The SDK's own failures: a CodeError whose code and description come from the specification.

The numbers of the SDK are spread over two namespaces of the registry (101–111 are error notices,
2508–2602 are SDK codes), so ``ClientError`` picks the right description from the number.
"""

from __future__ import annotations

from tkroom import codes
from tkroom.errors import CodeError

NOT_INITIALIZED = 101
INVALID_STATUS = 102
BAD_PARAMETERS = 103
NO_THIS_USER = 104
HTTP_REQUEST_FAILED = 111
ROOM_NOT_CONNECT = 2508
SERVER_EXCEPTION = 2510
ROOM_JOIN_GROUP_FAILED = 2511
ROOM_LINK_FAILED = 2600
MAX_ATTEMPTS_EXCEEDED = 2602

_SDK_NAMESPACE_FROM = 2500


def namespace_of(code: int) -> str:
    """Where the registry describes a code as the SDK sees it.

    A server ack carries signalling codes (61–156, error notices) or Web API codes (3003, 4007,
    5208, ...); the SDK's own transport codes are in the ``sdk`` namespace.
    """
    if code >= _SDK_NAMESPACE_FROM and code < 3000:
        return "sdk"
    if code < 1000:
        return "error_notice"
    return "webapi"


class ClientError(CodeError):
    """Raised by every SDK call that fails; ``code`` is the specification's number.

    ``message`` is the specification's description of the code, then what happened.
    """

    def __init__(self, code: int, detail: str = "", **extra: object):
        ns = namespace_of(int(code))
        try:
            described = codes.describe(ns, int(code))
        except KeyError:
            described = f"status {code}"
        message = f"{described}: {detail}" if detail and detail != described else described
        super().__init__(code, message, namespace=ns, **extra)
        self.detail = detail


class JoinGroupError(ClientError):
    """``joinGroup`` failed (2511); ``server_code`` says why (155 timed out, 156 refused)."""

    def __init__(self, server_code: int, message: str = ""):
        super().__init__(ROOM_JOIN_GROUP_FAILED, message, server_code=server_code)
        self.server_code = server_code
