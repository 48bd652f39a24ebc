"""The mail auth sends. Nothing a registrant typed goes into it but the address itself, so that
registration cannot be used to mail someone else a text of the registrant's choosing."""

from __future__ import annotations

from urllib.parse import urlencode

from supply_auth.service_layer.ports import Mail

LINK_PAGE = "/verify-email"
"""The gateway page a password link opens (`?token=...`): "Choose your password"."""


def password_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{LINK_PAGE}?{urlencode({'token': token})}"


def for_hours(ttl_s: int) -> str:
    """How long a link works, in whole hours (at least one)."""
    hours = max(1, ttl_s // 3600)
    return f"for {hours} hour{'s' if hours != 1 else ''}"


def choose_password(to: str, *, base_url: str, token: str, ttl_s: int) -> Mail:
    """The mail of a new account: its link lets whoever reads this address choose the password."""
    return Mail(
        to=to,
        subject="Choose your Supply Store password",
        text=(
            "Hello,\n\n"
            "Someone, probably you, asked to open a Supply Store customer account with this email address.\n"
            "To finish, open this link and choose your password on the page it opens:\n\n"
            f"{password_link(base_url, token)}\n\n"
            "That confirms the address is yours and signs you in. The account has no password until then:\n"
            "nobody can sign in with it, whatever they typed when registering.\n\n"
            f"The link works once, {for_hours(ttl_s)}. Registering again sends a new link "
            "and the old one stops working.\n\n"
            "If you did not ask for an account, ignore this message and do not open the link: without it\n"
            "nobody can sign in with your address.\n\n"
            "Supply Store\n"
        ),
    )


def already_registered(to: str, *, base_url: str) -> Mail:
    return Mail(
        to=to,
        subject="Someone tried to register with your Supply Store email address",
        text=(
            "Hello,\n\n"
            "Someone, perhaps you, just tried to open a Supply Store account with this email address.\n"
            "You already have one, so nothing was changed and no new account was made.\n\n"
            f"If it was you, simply sign in: {base_url.rstrip('/')}/login\n\n"
            "If it was not you, there is nothing to do: your account and password are as they were.\n\n"
            "Supply Store\n"
        ),
    )


def invitation(to: str, *, base_url: str, token: str, ttl_s: int) -> Mail:
    """The mail of an account made by a senior manager: its link lets whoever reads this address
    choose the password, as for a registration."""
    return Mail(
        to=to,
        subject="You are invited to Supply Store: choose your password",
        text=(
            "Hello,\n\n"
            "A Supply Store manager opened a staff account for this email address.\n"
            "To start, open this link and choose your password on the page it opens:\n\n"
            f"{password_link(base_url, token)}\n\n"
            "That confirms the address is yours and signs you in. Nobody else knows or chooses your password.\n\n"
            f"The link works once, {for_hours(ttl_s)}. If it has expired, ask the manager\n"
            "to send a new one.\n\n"
            "If you did not expect this, ignore this message.\n\n"
            "Supply Store\n"
        ),
    )
