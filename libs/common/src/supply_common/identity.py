"""Who a user is, as a verified access token names them (`supply_common.tokens`), and the roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

Role = Literal["customer", "technical_worker", "senior_management"]
ROLES: Final[tuple[str, ...]] = get_args(Role)


@dataclass(frozen=True)
class Identity:
    user_id: str
    role: Role
    email: str
