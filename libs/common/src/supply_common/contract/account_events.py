"""The envelope on `auth.account-events` (see docs/contract/asyncapi.yaml): what a token verifier must
refuse for one account, after a change of that account.

The topic is a compacted changelog keyed by user id, so only the last record of a user is sure to
survive: every record carries the account's whole revocation state (its token generation and the
sessions revoked recently enough that their access tokens may still be unexpired), never only the
change that caused it. Both parts only ever grow, so applying records twice, late or out of order
never lets a refused token back in.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

import orjson
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from supply_common.contract.codec import rfc3339
from supply_common.contract.sale import millisecond_utc

ACCOUNT_SCHEMA_VERSION: Final = 1
AccountEventType = Literal[
    "account.disabled",
    "account.enabled",
    "account.role_changed",
    "account.password_set",
    "account.logged_out",
    "account.session_revoked",
]
"""`account.logged_out`: the user ended one session; `account.session_revoked`: auth ended one (its
refresh token was used twice, or refreshed by a disabled account); `account.password_set`: a new
password ends every earlier session."""

GENERATION_CLAIM: Final = "gen"
"""Access-token claim: the account's token generation when the token was issued (absent: 0)."""
SESSION_CLAIM: Final = "sid"
"""Access-token claim: the login (refresh-token family) the token was issued in."""

Moment = Annotated[AwareDatetime, AfterValidator(millisecond_utc)]


class RevokedSession(BaseModel):
    """Access tokens of this session are refused; after `until` none of them can be unexpired."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    session_id: str = Field(min_length=1, max_length=64)
    until: Moment


class AccountEvent(BaseModel):
    """Key: the user id. Value: this envelope as UTF-8 JSON.

    An access token of `user_id` is refused when its `gen` claim is lower than `token_generation`, or
    its `sid` claim names one of `revoked_sessions`. `role` and `disabled` say what the account is
    after the change (for readers' logs; verifiers go by the two fields above)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: uuid.UUID
    event_type: AccountEventType
    schema_version: int = Field(ACCOUNT_SCHEMA_VERSION, ge=1)
    user_id: str = Field(min_length=1, max_length=64)
    occurred_at: Moment = Field(description="Commit time of the change, RFC 3339 UTC with milliseconds.")
    token_generation: int = Field(ge=0)
    revoked_sessions: tuple[RevokedSession, ...] = ()
    role: str
    disabled: bool

    @property
    def key(self) -> bytes:
        return self.user_id.encode()

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "event_id": str(self.event_id),
                "event_type": self.event_type,
                "schema_version": self.schema_version,
                "user_id": self.user_id,
                "occurred_at": rfc3339(self.occurred_at),
                "token_generation": self.token_generation,
                "revoked_sessions": [
                    {"session_id": s.session_id, "until": rfc3339(s.until)} for s in self.revoked_sessions
                ],
                "role": self.role,
                "disabled": self.disabled,
            }
        )

    @classmethod
    def decode(cls, value: bytes) -> AccountEvent:
        """Raises `pydantic.ValidationError` (or `ValueError`) for a value that is not an event."""
        return cls.model_validate_json(value)


def account_event(
    event_type: AccountEventType,
    *,
    user_id: str,
    occurred_at: datetime,
    token_generation: int,
    revoked_sessions: tuple[tuple[str, datetime], ...],
    role: str,
    disabled: bool,
) -> AccountEvent:
    """A new event (fresh `event_id`); naive datetimes are taken as UTC."""
    return AccountEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        user_id=user_id,
        occurred_at=_aware(occurred_at),
        token_generation=token_generation,
        revoked_sessions=tuple(RevokedSession(session_id=s, until=_aware(until)) for s, until in revoked_sessions),
        role=role,
        disabled=disabled,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
