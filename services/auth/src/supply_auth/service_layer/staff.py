"""Staff management, for senior managers only: list users, create an account with any role, change a
role or disable. The last active senior manager can be neither demoted nor disabled."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from supply_auth.domain.model import ADMIN_ROLE, User
from supply_auth.service_layer.accounts import Accounts
from supply_auth.service_layer.errors import Forbidden, LastSeniorManager, NotAuthenticated, UserNotFound
from supply_auth.service_layer.ports import UnitOfWork
from supply_auth.service_layer.sessions import Clock, utc_now
from supply_common.identity import Role

log = logging.getLogger("supply_auth.events")


@dataclass(frozen=True)
class UserPage:
    items: list[User]
    next_cursor: str | None


class Staff:
    def __init__(self, *, uow: Callable[[], UnitOfWork], accounts: Accounts, clock: Clock) -> None:
        self.uow = uow
        self.accounts = accounts
        self.clock = clock

    def now(self) -> datetime:
        return utc_now(self.clock)

    def _require_admin(self, uow: UnitOfWork, actor_id: str) -> None:
        actor = uow.users.get(actor_id)
        if actor is None or actor.disabled:
            raise NotAuthenticated
        if actor.role != ADMIN_ROLE:
            raise Forbidden

    def list_users(self, *, actor_id: str, role: Role | None, cursor: str | None, limit: int) -> UserPage:
        with self.uow() as uow:
            self._require_admin(uow, actor_id)
            rows = uow.users.page(role=role, after=cursor, limit=limit + 1)
        more = len(rows) > limit
        items = rows[:limit]
        return UserPage(items=items, next_cursor=items[-1].id if more and items else None)

    def create_user(self, *, actor_id: str, email: str, password: str, name: str, role: str) -> User:
        with self.uow() as uow:
            self._require_admin(uow, actor_id)
        user = self.accounts.create_account(email=email, password=password, name=name, role=role)
        log.info(
            "staff created user",
            extra={"event": "staff.user_created", "actor_id": actor_id, "user_id": user.id, "role": user.role},
        )
        return user

    def change_user(self, *, actor_id: str, user_id: str, role: Role | None, disabled: bool | None) -> User:
        """Change a role or the disabled flag; either revokes the user's refresh tokens. The last
        active senior manager can be neither demoted nor disabled."""
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
