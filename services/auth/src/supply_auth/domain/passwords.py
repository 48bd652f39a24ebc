"""The password policy: length bounds and a common-password list, no composition rules (NIST SP 800-63B)."""

from __future__ import annotations

from collections.abc import Container

from supply_auth.domain.model import DomainError

MIN_LENGTH = 12
MAX_LENGTH = 128


def check_password(password: str, common: Container[str], *, email: str = "", name: str = "") -> None:
    """Raise DomainError("password", ...) when the password may not be used."""
    if len(password) < MIN_LENGTH:
        raise DomainError("password", f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise DomainError("password", f"must be at most {MAX_LENGTH} characters")
    folded = password.casefold()
    if folded in common:
        raise DomainError("password", "is on a list of common passwords; choose another")
    if folded.strip() in {email.casefold(), email.split("@", 1)[0].casefold(), name.strip().casefold()} - {""}:
        raise DomainError("password", "must not be your email address or name")
    if len(set(password)) < 3:
        raise DomainError("password", "must not be one or two characters repeated")
