"""What a use case can refuse, independent of HTTP."""

from __future__ import annotations

from supply_auth.domain.model import DomainError


class InvalidInput(Exception):
    def __init__(self, errors: list[DomainError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class EmailTaken(Exception):
    pass


class InvalidCredentials(Exception):
    pass


class InvalidPasswordLink(Exception):
    """The token of a password link is unknown, used, replaced by a newer one, or expired."""


class Throttled(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class InvalidRefreshToken(Exception):
    pass


class NotAuthenticated(Exception):
    pass


class Forbidden(Exception):
    pass


class UserNotFound(Exception):
    pass


class LastSeniorManager(Exception):
    pass
