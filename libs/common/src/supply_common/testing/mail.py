"""Reading auth's mail drop (`AUTH_MAIL_DIR`: one `.eml` file per message) the way a recipient
would: the messages sent to an address, and the link in one.

Auth sends mail on a thread of its own after answering, so a test waits for the message it expects:

    message = wait_for_mail(mail_dir, "ada@example.com")            # the first one to arrive
    message = wait_for_mail(mail_dir, "ada@example.com", count=2)   # the newest, once two are there
    token = token_in(message)                                       # the `token` of its link
"""

from __future__ import annotations

import re
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

_LINK = re.compile(r"https?://\S+")


def read_inbox(folder: Path, to: str) -> list[EmailMessage]:
    """The messages sent to `to` (any case), oldest first."""
    wanted = to.strip().lower()
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.is_dir() else []:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        recipients = {f"{a.username}@{a.domain}".lower() for a in message["To"].addresses}
        if wanted in recipients:
            found.append(message)
    return found


def wait_for_mail(folder: Path, to: str, *, count: int = 1, timeout_s: float = 15.0) -> EmailMessage:
    """The newest message to `to`, once at least `count` have arrived."""
    deadline = time.monotonic() + timeout_s
    while True:
        inbox = read_inbox(folder, to)
        if len(inbox) >= count:
            return inbox[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} message(s) to {to} expected in {folder}, found {len(inbox)}")
        time.sleep(0.05)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""


def link_in(message: EmailMessage) -> str:
    """The first link in the message's text."""
    found = _LINK.search(text_of(message))
    if found is None:
        raise AssertionError(f"no link in the message {message['Subject']!r}")
    return found.group(0)


def token_in(message: EmailMessage) -> str:
    """The `token` query parameter of the message's link."""
    return parse_qs(urlsplit(link_in(message)).query)["token"][0]
