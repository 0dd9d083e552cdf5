"""The kinds of refusal, as types: raised by the domain, the engine and the service.

Each error is one of a few families (``NotFound``, ``Conflict``, ``Invalid``, ...),
which say what kind of refusal it is, and carries a stable ``code`` slug
(``tenant-not-found``) that names the exact case. The API maps the family to an
HTTP status and the code to the problem+json ``type`` in one place
(``scheduler.api.errors``); nothing here knows of HTTP.
"""

from __future__ import annotations


class AiccError(Exception):
    """A request refused for a reason the caller can act on; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Invalid(AiccError, ValueError):
    """The request is understood and refused: a value breaks a rule."""


class Malformed(Invalid):
    """A value the server itself handed out (a continue token) came back altered."""


class NotFound(AiccError, LookupError):
    """No such thing, or one the caller may not see."""


class Conflict(AiccError):
    """The request conflicts with what exists now (a name taken, live jobs left)."""


class Unauthorized(AiccError):
    """The caller is not known: no token, or one that is not valid."""


class Forbidden(AiccError):
    """The caller is known and may not do this."""


class Unavailable(AiccError):
    """The request cannot be served now; the same request may succeed later."""


#: Every family, most specific first (a code's family is the first it is an instance of).
FAMILIES: tuple[type[AiccError], ...] = (Malformed, Invalid, NotFound, Conflict, Unauthorized,
                                         Forbidden, Unavailable)
