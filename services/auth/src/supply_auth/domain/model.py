"""Users, roles and the rules on what they may hold. No I/O."""

from __future__ import annotations

import os
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from pydantic import TypeAdapter, ValidationError

from supply_common.contract.sale import Email
from supply_common.email_address import normalise_email as normalise_address
from supply_common.identity import ROLES, Role

ADMIN_ROLE: Role = "senior_management"
SELF_REGISTERED_ROLE: Role = "customer"

NAME_MAX = 100
_SALE_EMAIL: TypeAdapter[str] = TypeAdapter(Email)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
USER_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


class DomainError(Exception):
    """A rule was broken; `field` names the input at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    role: Role
    password_hash: str | None
    """None until someone sets a password: an account made by registration gets one only through the
    link mailed to its address, which also confirms the address."""
    disabled: bool
    created_at: datetime
    email_confirmed_at: datetime | None = None
    """When the owner of the address proved they read its mail; None until then (no login before)."""

    @property
    def active(self) -> bool:
        return not self.disabled

    @property
    def email_confirmed(self) -> bool:
        return self.email_confirmed_at is not None


@dataclass(frozen=True)
class PasswordLink:
    """The mailed link that lets whoever reads the user's mail set their password, by the SHA-256 of
    its token. A user has at most one; it works once, until `expires_at`."""

    user_id: str
    token_hash: bytes
    expires_at: datetime


@dataclass(frozen=True)
class RefreshGrant:
    """A refresh token as a refresh sees it: its family (one login) and that family's state."""

    family_id: str
    user_id: str
    used_at: datetime | None
    expires_at: datetime
    revoked_at: datetime | None


def new_user_id(now_ms: int | None = None) -> str:
    """A 26-character, time-ordered id (ULID layout: 48-bit milliseconds, 80 random bits)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def normalise_email(raw: str) -> str:
    """Trimmed, then the one form every service compares (`supply_common.email_address`): one
    account per address whatever its case, and the form sales record their customer's address in."""
    return normalise_address(raw.strip())


def validate_email(raw: str) -> str:
    """The trimmed address in its compared form, if the sale contract would accept it as a
    `customer.email`: an account exists only for an address that can have purchases."""
    try:
        return _SALE_EMAIL.validate_python(normalise_email(raw))
    except ValidationError:
        raise DomainError("email", "must be an email address like name@example.com") from None


def validate_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise DomainError("name", "must not be empty")
    if len(name) > NAME_MAX:
        raise DomainError("name", f"must be at most {NAME_MAX} characters")
    if _has_control(name):
        raise DomainError("name", "must not contain control characters")
    return name


def validate_role(raw: str) -> Role:
    if raw not in ROLES:
        raise DomainError("role", f"must be one of {', '.join(ROLES)}")
    return raw  # type: ignore[return-value]


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in value)
