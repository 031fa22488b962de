"""The one exception every plane raises to answer with a status code of the specification."""

from __future__ import annotations

from tkroom import codes


class CodeError(Exception):
    """A failure that the caller sees as ``code`` with a readable ``message``.

    ``namespace`` picks the description from the registry when no message is given, because a
    number alone is ambiguous (101 means different things in different namespaces).
    """

    def __init__(self, code: int, message: str = "", *, namespace: str = "webapi", **extra: object):
        if not message:
            try:
                message = codes.describe(namespace, int(code))
            except KeyError:
                message = f"status {code}"
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.extra = extra
