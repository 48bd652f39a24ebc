"""Users and roles, for senior management only."""

from typing import Annotated

from fastapi import APIRouter, Query

from supply_auth.entrypoints.deps import SeniorManager, StaffDep
from supply_auth.entrypoints.schemas import CreateUserIn, StaffUserOut, UserPageOut, UserPatch
from supply_common.identity import Role
from supply_common.problems import FieldError, ProblemError

router = APIRouter(tags=["staff"])


@router.get("/users", response_model=UserPageOut)
def list_users(
    token: SeniorManager,
    staff: StaffDep,
    role: Annotated[Role | None, Query()] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9A-Z]{26}$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> UserPageOut:
    """Users in id (creation) order, optionally of one role. Senior management only."""
    page = staff.list_users(actor_id=token["sub"], role=role, cursor=cursor, limit=limit)
    return UserPageOut(items=[StaffUserOut.of(u) for u in page.items], next_cursor=page.next_cursor)


@router.post("/users", status_code=201, response_model=StaffUserOut)
def create_user(body: CreateUserIn, token: SeniorManager, staff: StaffDep) -> StaffUserOut:
    """Create an account with any role. Senior management only."""
    user = staff.create_user(
        actor_id=token["sub"], email=body.email, password=body.password, name=body.name, role=body.role
    )
    return StaffUserOut.of(user)


@router.patch("/users/{user_id}", response_model=StaffUserOut)
def change_user(user_id: str, body: UserPatch, token: SeniorManager, staff: StaffDep) -> StaffUserOut:
    """Change a user's role or disable them; either ends their refresh tokens at once. The last
    active senior manager cannot be demoted or disabled. Senior management only."""
    if body.role is None and body.disabled is None:
        raise ProblemError(
            422,
            "Invalid request",
            "Send role or disabled.",
            errors=[FieldError(field="body", reason="send role or disabled")],
        )
    user = staff.change_user(actor_id=token["sub"], user_id=user_id, role=body.role, disabled=body.disabled)
    return StaffUserOut.of(user)
