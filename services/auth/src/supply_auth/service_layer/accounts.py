"""Use cases of an account: registration, setting the password through the mailed link, accounts
made by staff or the command line, and the signed-in user. A registered account gets a password
only through the link mailed to its address."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Container
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from supply_auth.domain.model import (
    SELF_REGISTERED_ROLE,
    DomainError,
    User,
    new_user_id,
    validate_email,
    validate_name,
    validate_role,
)
from supply_auth.domain.passwords import check_password
from supply_auth.service_layer import notices
from supply_auth.service_layer.errors import (
    AlreadyConfirmed,
    EmailTaken,
    InvalidInput,
    InvalidPasswordLink,
    NotAuthenticated,
    UserNotFound,
)
from supply_auth.service_layer.ports import (
    DuplicateEmail,
    Hasher,
    SendsMail,
    TransactionConflict,
    UnitOfWork,
)
from supply_auth.service_layer.sessions import (
    LOCK_RETRIES,
    Clock,
    Sessions,
    TokenPair,
    email_fingerprint,
    subject,
    utc_now,
)

log = logging.getLogger("supply_auth.events")


def new_link_token() -> tuple[str, bytes]:
    """A password link's token (256 random bits) and the SHA-256 that is all the store keeps."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).digest()


@dataclass(kw_only=True, eq=False)
class Accounts:
    uow: Callable[[], UnitOfWork]
    hasher: Hasher
    sessions: Sessions
    common_passwords: Container[str]
    clock: Clock
    mail: SendsMail
    public_base_url: str
    link_ttl_s: int

    def now(self) -> datetime:
        return utc_now(self.clock)

    def _checked(self, *, email: str, name: str, role: str, password: str | None = None) -> dict[str, str]:
        """The normalised email, name and role; every broken rule at once as InvalidInput. The
        password, when given, is checked against the policy too."""
        errors: list[DomainError] = []
        checked: dict[str, str] = {}
        for field, check in (("email", validate_email), ("name", validate_name), ("role", validate_role)):
            raw = {"email": email, "name": name, "role": role}[field]
            try:
                checked[field] = check(raw)
            except DomainError as error:
                errors.append(error)
        if password is not None:
            try:
                check_password(
                    password, self.common_passwords, email=checked.get("email", ""), name=checked.get("name", "")
                )
            except DomainError as error:
                errors.append(error)
        if errors:
            raise InvalidInput(errors)
        return checked

    def register(self, *, email: str, name: str) -> None:
        """Ask for a customer account. The caller learns nothing about the address: whatever it
        holds, the answer is the same and costs the same; what follows goes to its inbox. Nobody
        can sign in with a registered account until its password is set through the mailed link
        (`set_password`), so registering someone else's address gains nothing.

        - New address: an account without a password, and a link to choose one.
        - Address of an account still without a password: its name is replaced, and a new link
          replaces the old one.
        - Address of a confirmed account: nothing changes; its owner is told of the attempt."""
        checked = self._checked(email=email, name=name, role=SELF_REGISTERED_ROLE)
        email = checked["email"]
        token, token_hash = new_link_token()
        outcome, user_id = "", ""
        for _ in range(LOCK_RETRIES):
            try:
                outcome, user_id = self._record_registration(checked, token_hash)
            except (DuplicateEmail, TransactionConflict):
                continue  # the same address registered at the same moment, or a deadlock: go again
            break
        else:
            raise RuntimeError("registration kept meeting a concurrent one")
        fields = {"email_hash": email_fingerprint(email), "user_id": user_id}
        base = self.public_base_url
        if outcome == "exists":
            self.mail.send(notices.already_registered(email, base_url=base), kind="registered", **fields)
        else:
            message = notices.choose_password(email, base_url=base, token=token, ttl_s=self.link_ttl_s)
            self.mail.send(message, kind="password_link", **fields)
        log.info("registration", extra={"event": "registration", "outcome": outcome, **fields})

    def _record_registration(self, checked: dict[str, str], token_hash: bytes) -> tuple[str, str]:
        """One transaction of `register`: (outcome, user id), outcome `created`, `replaced` or `exists`."""
        now = self.now()
        expires_at = now + timedelta(seconds=self.link_ttl_s)
        with self.uow() as uow:
            found = uow.users.by_email(checked["email"])
            locked = uow.users.get(found.id, for_update=True) if found else None
            if locked is None:
                user = User(
                    id=new_user_id(),
                    email=checked["email"],
                    name=checked["name"],
                    role=SELF_REGISTERED_ROLE,
                    password_hash=None,
                    disabled=False,
                    created_at=now,
                )
                uow.users.add(user, now)
                outcome, user_id = "created", user.id
            elif locked.email_confirmed:
                return "exists", locked.id
            else:
                uow.users.update(locked.id, now, name=checked["name"])
                outcome, user_id = "replaced", locked.id
            uow.links.replace(user_id, token_hash, now, expires_at)
            uow.commit()
        return outcome, user_id

    def invite(self, *, email: str, name: str, role: str) -> User:
        """An account with any role and no password yet, for staff management: its address is mailed
        a password link (the one registration sends, worded as an invitation), and the account is
        confirmed when the person who reads that mail chooses their password. Nobody else ever
        types or learns it. An unconfirmed account of the same address is taken over (its pending
        link stops working); a confirmed one is EmailTaken."""
        checked = self._checked(email=email, name=name, role=role)
        token, token_hash = new_link_token()
        user: User | None = None
        for _ in range(LOCK_RETRIES):
            try:
                user = self._record_invitation(checked, token_hash)
            except (DuplicateEmail, TransactionConflict):
                continue
            break
        if user is None:
            raise RuntimeError("the invitation kept meeting a concurrent change of the address")
        self.mail.send(
            notices.invitation(user.email, base_url=self.public_base_url, token=token, ttl_s=self.link_ttl_s),
            kind="invitation",
            email_hash=email_fingerprint(user.email),
            user_id=user.id,
        )
        log.info("user invited", extra={"event": "user.invited", "user_id": user.id, "role": user.role})
        return user

    def _record_invitation(self, checked: dict[str, str], token_hash: bytes) -> User:
        now = self.now()
        expires_at = now + timedelta(seconds=self.link_ttl_s)
        with self.uow() as uow:
            found = uow.users.by_email(checked["email"])
            locked = uow.users.get(found.id, for_update=True) if found else None
            if locked is not None and locked.email_confirmed:
                raise EmailTaken
            if locked is None:
                user = User(
                    id=new_user_id(),
                    email=checked["email"],
                    name=checked["name"],
                    role=checked["role"],  # type: ignore[arg-type]
                    password_hash=None,
                    disabled=False,
                    created_at=now,
                )
                uow.users.add(user, now)
            else:
                values = {"name": checked["name"], "role": checked["role"], "password_hash": None, "disabled": False}
                uow.users.update(locked.id, now, **values)
                user = replace(locked, **values)  # type: ignore[arg-type]
            uow.links.replace(user.id, token_hash, now, expires_at)
            uow.commit()
        return user

    def resend_link(self, *, email: str) -> bool:
        """Mail a new password link to an account that is still waiting for its owner to choose a
        password (registered or invited, the link lost or expired); the earlier link stops working.
        Whether anything was sent (an unknown, confirmed or disabled account gets nothing) is for
        the logs only: callers answer the same either way."""
        try:
            address = validate_email(email)
        except DomainError as error:
            raise InvalidInput([error]) from None
        with self.uow() as uow:
            user = uow.users.by_email(address)
        if user is None:
            return False
        return self._resend(user)

    def resend_link_of(self, user_id: str) -> User:
        """`resend_link` by user id, for staff: UserNotFound, or EmailTaken when the account's owner
        has already chosen a password (there is nothing to confirm)."""
        with self.uow() as uow:
            user = uow.users.get(user_id)
        if user is None:
            raise UserNotFound
        if user.email_confirmed or user.disabled:
            raise AlreadyConfirmed
        self._resend(user)
        return user

    def _resend(self, user: User) -> bool:
        if user.email_confirmed or user.disabled:
            return False
        token, token_hash = new_link_token()
        now = self.now()
        with self.uow() as uow:
            locked = uow.users.get(user.id, for_update=True)
            if locked is None or locked.email_confirmed or locked.disabled:
                return False
            uow.links.replace(locked.id, token_hash, now, now + timedelta(seconds=self.link_ttl_s))
            uow.commit()
        base = self.public_base_url
        if locked.role == SELF_REGISTERED_ROLE:
            message = notices.choose_password(locked.email, base_url=base, token=token, ttl_s=self.link_ttl_s)
        else:
            message = notices.invitation(locked.email, base_url=base, token=token, ttl_s=self.link_ttl_s)
        self.mail.send(message, kind="password_link", email_hash=email_fingerprint(locked.email), user_id=locked.id)
        return True

    def set_password(self, token: str, password: str, client: str | None = None) -> TokenPair:
        """Set the password of the account a password link was mailed for, confirm its address, and
        sign its owner in. This is the only way a registered account gets a password: only whoever
        reads the address's mail holds the token. The link works once, only while it is the
        account's newest and has not expired; it ends every earlier login of the account."""
        token_hash = hashlib.sha256(token.encode()).digest()
        with self.uow() as uow:
            link = uow.links.by_token(token_hash)
            user = uow.users.get(link.user_id) if link else None
        if link is None or user is None or user.disabled or link.expires_at <= self.now():
            raise InvalidPasswordLink
        try:
            check_password(password, self.common_passwords, email=user.email, name=user.name)
        except DomainError as error:
            raise InvalidInput([error]) from None
        password_hash = self.hasher.hash(password)
        now = self.now()
        with self.uow() as uow:
            locked = uow.users.get(user.id, for_update=True)
            link = uow.links.of_user(user.id)
            if locked is None or locked.disabled or link is None or link.token_hash != token_hash:
                raise InvalidPasswordLink
            if link.expires_at <= now:
                raise InvalidPasswordLink
            uow.users.update(
                locked.id,
                now,
                password_hash=password_hash,
                email_confirmed_at=locked.email_confirmed_at or now,
                last_login_at=now,
            )
            uow.links.delete(locked.id)
            uow.refresh_tokens.revoke_user(locked.id, now, "password_set")
            if locked.email_confirmed:  # it had a password: its earlier logins' access tokens end too
                locked = replace(locked, token_generation=uow.users.end_tokens(locked.id))
                uow.events.record("account.password_set", locked.id, now)
            uow.attempts.clear(subject("account", locked.email))
            if client is not None:
                self.sessions.remember_address(uow, locked.id, client, now)
            pair = self.sessions.start(uow, locked, now)
            uow.commit()
        log.info(
            "password set through the mailed link",
            extra={"event": "password.set", "user_id": locked.id, "confirmed_now": not locked.email_confirmed},
        )
        return pair

    def create_account(self, *, email: str, password: str, name: str, role: str) -> User:
        """An account with any role, its email confirmed: for staff management and the command line.
        An unconfirmed account of the same address (nobody has shown it is theirs) is taken over."""
        checked = self._checked(email=email, name=name, role=role, password=password)
        with self.uow() as uow:
            found = uow.users.by_email(checked["email"])
            if found is not None and found.email_confirmed:
                raise EmailTaken
        now = self.now()
        user = User(
            id=new_user_id(),
            email=checked["email"],
            name=checked["name"],
            role=checked["role"],  # type: ignore[arg-type]
            password_hash=self.hasher.hash(password),
            disabled=False,
            created_at=now,
            email_confirmed_at=now,
        )
        with self.uow() as uow:
            found = uow.users.by_email(user.email)
            locked = uow.users.get(found.id, for_update=True) if found else None
            if locked is None:
                try:
                    uow.users.add(user, now)
                except DuplicateEmail:
                    raise EmailTaken from None
            elif locked.email_confirmed:
                raise EmailTaken
            else:
                uow.users.update(
                    locked.id,
                    now,
                    name=user.name,
                    role=user.role,
                    password_hash=user.password_hash,
                    disabled=False,
                    email_confirmed_at=now,
                )
                uow.links.delete(locked.id)
                user = replace(user, id=locked.id, created_at=locked.created_at)
            uow.commit()
        log.info("user created", extra={"event": "user.created", "user_id": user.id, "role": user.role})
        return user

    def me(self, user_id: str) -> User:
        with self.uow() as uow:
            user = uow.users.get(user_id)
        if user is None or user.disabled:
            raise NotAuthenticated
        return user
