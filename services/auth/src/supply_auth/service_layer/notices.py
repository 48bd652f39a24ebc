"""The mail auth sends. Nothing a registrant typed goes into it but the address itself, so that
registration cannot be used to mail someone else a text of the registrant's choosing."""

from __future__ import annotations

from urllib.parse import urlencode

from supply_auth.adapters.mail import Mail


def confirmation(to: str, *, base_url: str, token: str, ttl_s: int) -> Mail:
    link = f"{base_url.rstrip('/')}/verify-email?{urlencode({'token': token})}"
    hours = max(1, ttl_s // 3600)
    return Mail(
        to=to,
        subject="Confirm your email address for Supply Store",
        text=(
            "Hello,\n\n"
            "Someone, probably you, asked to open a Supply Store customer account with this email address.\n"
            "To confirm that the address is yours, open this link and press the button on the page:\n\n"
            f"{link}\n\n"
            f"The link works once, for {hours} hour{'s' if hours != 1 else ''}. Registering again sends a new link "
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
