"""Request and response bodies. Requests are strict: unknown fields and wrong types are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr
from pydantic.json_schema import SkipJsonSchema

from supply_auth.domain.model import User
from supply_common.identity import Role

REGISTERED = "Check your inbox: we sent a link to choose your password."
"""The one answer to every registration that passes the input checks, whatever the address holds."""
NOT_AT_REGISTRATION = "is not taken at registration: choose it on the page the link we mail opens (POST /verify-email)"


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def refused(reason: str) -> AfterValidator:
    """For a field that must stay out of a body: any value sent is refused, with `reason`."""

    def refuse(value: object) -> None:
        if value is not None:
            raise ValueError(reason)

    return AfterValidator(refuse)


PASSWORD = Field(max_length=1024, description="12 to 128 characters, not a common password.")


class RegisterIn(StrictBody):
    email: StrictStr = Field(max_length=320, examples=["ada@example.com"])
    name: StrictStr = Field(max_length=1000, examples=["Ada Lovelace"])
    password: SkipJsonSchema[Annotated[StrictStr | None, refused(NOT_AT_REGISTRATION)]] = None
    """Refused when present (422 naming `password`): a password sent here would never work, and a
    client that sends one should learn so at once rather than at its first login."""


class RegisteredOut(BaseModel):
    detail: str = Field(examples=[REGISTERED])


class SetPasswordIn(StrictBody):
    token: StrictStr = Field(min_length=1, max_length=256, description="The `token` of the link we mailed.")
    password: StrictStr = PASSWORD


NOT_BY_A_MANAGER = "is chosen by the account's owner on the page the invitation's link opens, never by a manager"


class CreateUserIn(StrictBody):
    email: StrictStr = Field(max_length=320, examples=["ada@example.com"])
    name: StrictStr = Field(max_length=1000, examples=["Ada Lovelace"])
    role: Role
    password: SkipJsonSchema[Annotated[StrictStr | None, refused(NOT_BY_A_MANAGER)]] = None
    """Refused when present (422 naming `password`): the invited person chooses it."""


class ResendIn(StrictBody):
    email: StrictStr = Field(max_length=320, examples=["ada@example.com"])


class LoginIn(StrictBody):
    email: StrictStr = Field(max_length=320)
    password: StrictStr = Field(max_length=1024)


class RefreshIn(StrictBody):
    refresh_token: StrictStr = Field(max_length=256)


class UserPatch(StrictBody):
    role: Role | None = None
    disabled: StrictBool | None = None


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = Field(examples=["Bearer"])
    expires_in: int = Field(description="Seconds until the access token expires.")


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    role: Role
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, email=user.email, name=user.name, role=user.role, created_at=_utc(user.created_at))


class StaffUserOut(UserOut):
    disabled: bool
    email_confirmed: bool = Field(
        description="Whether the owner of the address has chosen a password through the mailed link."
    )
    last_login_at: datetime | None = Field(description="The last sign-in with the password; null if none.")

    @classmethod
    def of(cls, user: User) -> StaffUserOut:
        return cls(
            **UserOut.of(user).model_dump(),
            disabled=user.disabled,
            email_confirmed=user.email_confirmed,
            last_login_at=_utc(user.last_login_at) if user.last_login_at else None,
        )


class UserPageOut(BaseModel):
    items: list[StaffUserOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page (the default order only).")
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last.")
    total: int = Field(description="How many users match, on every page.")


class Jwk(BaseModel):
    kty: str
    crv: str
    x: str
    kid: str
    use: str
    alg: str


class JwksOut(BaseModel):
    keys: list[Jwk]


def _utc(value: datetime) -> datetime:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
