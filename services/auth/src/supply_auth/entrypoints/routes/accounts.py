"""Registration, the mailed password link, and the signed-in user."""

import time

from fastapi import APIRouter

from supply_auth.entrypoints.deps import AccountsDep, Claims, ContainerDep
from supply_auth.entrypoints.routes.tokens import token_out
from supply_auth.entrypoints.schemas import REGISTERED, RegisteredOut, RegisterIn, SetPasswordIn, TokenOut, UserOut

router = APIRouter(tags=["accounts"])


@router.post("/register", status_code=202, response_model=RegisteredOut)
def register(body: RegisterIn, container: ContainerDep) -> RegisteredOut:
    """Ask for a customer account with an email and a name; the role is always `customer` (staff
    accounts are made by senior management through `POST /users`). No password: the email gets a
    link to a page where whoever reads it chooses the password (`POST /verify-email`), and until
    then nobody can sign in. A `password` field is refused (422). Every request that passes the
    input checks gets the same 202, whether or not the email has an account: what happens next
    arrives in its inbox. A registration for an email whose account has no password yet replaces
    its name, and its link replaces the earlier one. The owner of a confirmed account is only told
    of the attempt."""
    started = time.monotonic()
    container.accounts.register(email=body.email, name=body.name)
    # A new address costs a committed write and a known one does not: every answer waits out the same floor.
    time.sleep(max(0.0, container.settings.auth_register_answer_s - (time.monotonic() - started)))
    return RegisteredOut(detail=REGISTERED)


@router.post("/verify-email", response_model=TokenOut)
def verify_email(body: SetPasswordIn, accounts: AccountsDep) -> TokenOut:
    """Set the account's password with the token of the link we mailed to its email: this confirms
    the email and signs in (the answer is a token pair, as from `POST /login`). It is the only way a
    registered account gets a password. A token works once, only while it is the account's newest,
    and for `AUTH_EMAIL_CONFIRMATION_TTL_S` (24 hours); any other token gets 400 naming `token`. A
    password the policy refuses gets 422 naming `password`, and the link still works."""
    return token_out(accounts.set_password(body.token, body.password))


@router.get("/me", response_model=UserOut)
def me(token: Claims, accounts: AccountsDep) -> UserOut:
    """The signed-in user."""
    return UserOut.of(accounts.me(token["sub"]))
