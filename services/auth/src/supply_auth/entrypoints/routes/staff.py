"""Users and roles, for senior management only."""

from typing import Annotated

from fastapi import APIRouter, Query

from supply_auth.entrypoints.deps import SeniorManager, StaffDep
from supply_auth.entrypoints.schemas import CreateUserIn, StaffUserOut, UserPageOut, UserPatch
from supply_auth.service_layer.ports import USER_SORTS, UserQuery
from supply_common.identity import Role
from supply_common.problems import FieldError, ProblemError

router = APIRouter(tags=["staff"])

SORT_PATTERN = "^-?(" + "|".join(USER_SORTS) + ")$"


@router.get("/users", response_model=UserPageOut)
def list_users(
    token: SeniorManager,
    staff: StaffDep,
    role: Annotated[list[Role] | None, Query(description="Only these roles (repeat for several).")] = None,
    q: Annotated[
        str, Query(max_length=100, description="Only users whose email or name contains this, any case.")
    ] = "",
    sort: Annotated[
        str,
        Query(pattern=SORT_PATTERN, description="`created`, `name`, `email` or `last_login`; `-` first: descending."),
    ] = "created",
    cursor: Annotated[str | None, Query(pattern=r"^[0-9A-Z]{26}$")] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> UserPageOut:
    """Users, optionally of some roles and matching a search, sorted; `total` counts every match.
    Page with `offset` (`next_offset`), or in the default order with `cursor` (`next_cursor`).
    Senior management only."""
    query = UserQuery(
        roles=tuple(role or ()),
        search=q.strip(),
        sort=sort.lstrip("-"),
        descending=sort.startswith("-"),
        after=cursor,
        offset=offset,
        limit=limit,
    )
    page = staff.list_users(actor_id=token["sub"], query=query)
    return UserPageOut(
        items=[StaffUserOut.of(u) for u in page.items],
        next_cursor=page.next_cursor,
        next_offset=page.next_offset,
        total=page.total,
    )


@router.post("/users", status_code=201, response_model=StaffUserOut)
def invite_user(body: CreateUserIn, token: SeniorManager, staff: StaffDep) -> StaffUserOut:
    """Invite someone to an account with any role: the account has no password, and its email is
    mailed a link to a page where its owner chooses one (as after a registration), which also
    confirms the address. A `password` field is refused (422). An address with a confirmed account
    is 409; an unconfirmed one is taken over. Senior management only."""
    user = staff.invite_user(actor_id=token["sub"], email=body.email, name=body.name, role=body.role)
    return StaffUserOut.of(user)


@router.post("/users/{user_id}/password-link", status_code=202, response_model=StaffUserOut)
def resend_password_link(user_id: str, token: SeniorManager, staff: StaffDep) -> StaffUserOut:
    """Mail an account whose owner has not chosen a password yet (a registration or an invitation
    not finished) a new link; the earlier link stops working. 409 when the owner has chosen one or
    the account is disabled. Senior management only."""
    return StaffUserOut.of(staff.resend_link(actor_id=token["sub"], user_id=user_id))


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
