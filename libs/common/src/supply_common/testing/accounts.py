"""Making a customer account the way a customer does: register the address, open the mailed link,
choose the password. An account gets a password only through that link, so this is the one way a
test gets a signed-in customer from registration:

    tokens = sign_up(client, mail_dir, "ada@example.com", "a sturdy passphrase")            # auth itself
    tokens = sign_up(gateway, mail_dir, "ada@example.com", "a sturdy passphrase", prefix="/api/auth")

`client` is anything with `post(url, json=...)` answering a response with `status_code`, `text` and
`json()`: FastAPI's `TestClient` or an `httpx.Client` with a base URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from supply_common.testing.mail import read_inbox, token_in, wait_for_mail


class Response(Protocol):
    status_code: int

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


class Client(Protocol):
    def post(self, url: str, *, json: Any) -> Any: ...


def register(client: Client, email: str, *, name: str = "Test customer", prefix: str = "") -> None:
    """Ask for a customer account; auth answers 202 whatever the address holds."""
    answer: Response = client.post(f"{prefix}/register", json={"email": email, "name": name})
    assert answer.status_code == 202, answer.text


def choose_password(client: Client, token: str, password: str, *, prefix: str = "") -> Any:
    """Send the password with the token of the mailed link: the raw response (200 with a token
    pair when the link works)."""
    return client.post(f"{prefix}/verify-email", json={"token": token, "password": password})


def sign_up(
    client: Client,
    mail_dir: Path,
    email: str,
    password: str,
    *,
    name: str = "Test customer",
    prefix: str = "",
) -> dict[str, Any]:
    """Register `email`, then set `password` with the link of the newest mail to it: the token pair
    auth signs the new customer in with."""
    before = len(read_inbox(mail_dir, email))
    register(client, email, name=name, prefix=prefix)
    token = token_in(wait_for_mail(mail_dir, email, count=before + 1))
    chosen: Response = choose_password(client, token, password, prefix=prefix)
    assert chosen.status_code == 200, chosen.text
    tokens: dict[str, Any] = chosen.json()
    return tokens
