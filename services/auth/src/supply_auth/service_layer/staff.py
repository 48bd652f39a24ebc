"""Staff management, for senior managers only: list and search users, invite someone to an account
with any role, mail an unconfirmed account a new password link, change a role or disable. The last
active senior manager can be neither demoted nor disabled."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from supply_auth.domain.model import ADMIN_ROLE, User
from supply_auth.service_layer.accounts import Accounts
from supply_auth.service_layer.errors import Forbidden, LastSeniorManager, NotAuthenticated, UserNotFound
from supply_auth.service_layer.ports import UnitOfWork, UserQuery
from supply_auth.service_layer.sessions import Clock, utc_now
from supply_common.contract.account_events import AccountEventType
from supply_common.identity import Role

log = logging.getLogger("supply_auth.events")


@dataclass(frozen=True)
class UserPage:
    items: list[User]
    next_cursor: str | None
    """The id to pass as `after` for the next page (id order only)."""
    next_offset: int | None
    """The offset of the next page, if there is one."""
    total: int
    """How many users the query selects in all."""


@dataclass(kw_only=True, eq=False)
class Staff:
    uow: Callable[[], UnitOfWork]
    accounts: Accounts
    clock: Clock

    def now(self) -> datetime:
        return utc_now(self.clock)

    def _require_admin(self, uow: UnitOfWork, actor_id: str) -> None:
        actor = uow.users.get(actor_id)
        if actor is None or actor.disabled:
            raise NotAuthenticated
        if actor.role != ADMIN_ROLE:
            raise Forbidden

    def list_users(self, *, actor_id: str, query: UserQuery) -> UserPage:
        with self.uow() as uow:
            self._require_admin(uow, actor_id)
            rows = uow.users.page(replace(query, limit=query.limit + 1))
            total = uow.users.count(query)
        more = len(rows) > query.limit
        items = rows[: query.limit]
        by_id = query.sort == "created" and not query.descending and query.offset == 0
        return UserPage(
            items=items,
            next_cursor=items[-1].id if more and items and by_id else None,
            next_offset=query.offset + len(items) if more else None,
            total=total,
        )

    def invite_user(self, *, actor_id: str, email: str, name: str, role: str) -> User:
        """An account for someone else, with no password: they choose it through the link mailed to
        them (`Accounts.invite`)."""
        with self.uow() as uow:
            self._require_admin(uow, actor_id)
        user = self.accounts.invite(email=email, name=name, role=role)
        log.info(
            "staff invited user",
            extra={"event": "staff.user_invited", "actor_id": actor_id, "user_id": user.id, "role": user.role},
        )
        return user

    def resend_link(self, *, actor_id: str, user_id: str) -> User:
        """Mail an account that has no password yet a new link to choose it (the earlier one stops
        working); AlreadyConfirmed when its owner chose one already."""
        with self.uow() as uow:
            self._require_admin(uow, actor_id)
        user = self.accounts.resend_link_of(user_id)
        log.info("staff resent link", extra={"event": "staff.link_resent", "actor_id": actor_id, "user_id": user.id})
        return user

    def change_user(self, *, actor_id: str, user_id: str, role: Role | None, disabled: bool | None) -> User:
        """Change a role or the disabled flag; either revokes the user's refresh tokens and makes every
        access token issued to them so far refused (the change is published on the account events).
        The last active senior manager can be neither demoted nor disabled."""
        now = self.now()
        with self.uow() as uow:
            self._require_admin(uow, actor_id)
            active_admins = uow.users.lock_active_admins(ADMIN_ROLE)
            target = uow.users.get(user_id, for_update=True)
            if target is None:
                raise UserNotFound
            changes: dict[str, object] = {}
            if role is not None and role != target.role:
                changes["role"] = role
            if disabled is not None and disabled != target.disabled:
                changes["disabled"] = disabled
            new_role = changes.get("role", target.role)
            new_disabled = changes.get("disabled", target.disabled)
            loses_admin = target.role == ADMIN_ROLE and target.active and (new_role != ADMIN_ROLE or new_disabled)
            if loses_admin and set(active_admins) <= {target.id}:
                raise LastSeniorManager
            if changes:
                uow.users.update(target.id, now, **changes)
                if "role" in changes or new_disabled:
                    uow.refresh_tokens.revoke_user(target.id, now, "role_change" if "role" in changes else "disabled")
                    uow.users.end_tokens(target.id)
                uow.events.record(_event_type(changes), target.id, now)
                uow.commit()
            updated = uow.users.get(target.id) if changes else target
        assert updated is not None
        if changes:
            log.info(
                "staff changed user",
                extra={
                    "event": "staff.user_changed",
                    "actor_id": actor_id,
                    "user_id": target.id,
                    "changes": sorted(changes),
                },
            )
        return updated


def _event_type(changes: dict[str, object]) -> AccountEventType:
    if changes.get("disabled") is True:
        return "account.disabled"
    return "account.role_changed" if "role" in changes else "account.enabled"
