from __future__ import annotations

import json
import logging
from pathlib import Path

import jwt
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from supply_auth.bootstrap import key_store
from supply_auth.config import AuthSettings
from supply_auth.entrypoints.cli import app, read_demo_file
from supply_common.testing.stack import repo_root
from supply_common.tokens import InvalidToken, KeyStore, TokenVerifier, jwks_from_url

pytestmark = pytest.mark.integration

DEMO = repo_root() / "deploy" / "local" / "demo.env"


@pytest.fixture
def cli_env(mysql_url, fresh_mysql_database, tmp_path, monkeypatch):
    database = fresh_mysql_database("auth")
    env = {
        "ENVIRONMENT": "test",
        "MYSQL_URL": mysql_url,
        "MYSQL_DATABASE": database,
        "AUTH_KEYS_DIR": str(tmp_path / "keys"),
        "AUTH_MAIL_DIR": str(tmp_path / "mail"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return env


def run(*args: str, stdin: str | None = None):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return CliRunner().invoke(app, list(args), input=stdin)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def count(env, query: str) -> int:
    engine = sa.create_engine(f"{env['MYSQL_URL']}/{env['MYSQL_DATABASE']}")
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def create_user(email: str, role: str, name: str, password: str = "a sturdy passphrase"):  # noqa: S107 - a test account
    """`create-user`, the password on standard input."""
    return run(
        "create-user", "--email", email, "--role", role, "--name", name, "--password-stdin", stdin=f"{password}\n"
    )


def test_migrate_rotate_create_user_and_demo_accounts(cli_env):
    assert run("migrate").exit_code == 0
    assert run("migrate").exit_code == 0

    no_keys = create_user("boss@example.com", "senior_management", "Boss")
    assert no_keys.exit_code != 0
    assert "rotate-keys" in str(no_keys.exception or no_keys.output)

    rotated = run("rotate-keys")
    assert rotated.exit_code == 0, rotated.output
    assert "new signing key ed25519-" in rotated.output
    assert len(list(Path(cli_env["AUTH_KEYS_DIR"]).glob("*.pem"))) == 1

    created = create_user("boss@example.com", "senior_management", "Boss")
    assert created.exit_code == 0, created.output
    assert count(cli_env, "SELECT COUNT(*) FROM users WHERE role = 'senior_management'") == 1
    again = create_user("BOSS@example.com", "customer", "Boss")
    assert again.exit_code == 1
    weak = create_user("w@example.com", "customer", "W", password="short")
    assert weak.exit_code == 2
    bad_role = create_user("r@example.com", "root", "R")
    assert bad_role.exit_code == 2

    first = run("ensure-demo-users", "--file", str(DEMO))
    assert first.exit_code == 0, first.output
    assert [line.split(":")[1].split()[0] for line in first.output.splitlines() if line.startswith("demo ")] == [
        "created"
    ] * 3
    second = run("ensure-demo-users", "--file", str(DEMO))
    assert len([line for line in second.output.splitlines() if line.startswith("demo ") and "exists" in line]) == 3
    assert count(cli_env, "SELECT COUNT(DISTINCT role) FROM users") == 3
    assert count(cli_env, "SELECT COUNT(*) FROM users") == 4
    assert count(cli_env, "SELECT COUNT(*) FROM users WHERE email_confirmed_at IS NOT NULL") == 4
    assert not list(Path(cli_env["AUTH_MAIL_DIR"]).glob("*.eml"))


def test_demo_accounts_are_refused_in_production(cli_env, monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("AUTH_SMTP_URL", "smtp://mailer:secret@mail.example.com:587")
    monkeypatch.setenv("AUTH_MAIL_FROM", "Supply Store <no-reply@example.com>")
    monkeypatch.setenv("AUTH_PUBLIC_BASE_URL", "https://store.example.com")
    run("migrate")

    result = run("ensure-demo-users", "--file", str(DEMO))

    assert result.exit_code == 2
    assert "production" in result.output


def test_the_demo_file_has_one_account_per_role_that_passes_the_password_rules():
    from supply_auth.adapters.common_passwords import common_passwords
    from supply_auth.domain.model import validate_email
    from supply_auth.domain.passwords import check_password

    accounts = read_demo_file(DEMO)

    assert sorted(a["role"] for a in accounts) == ["customer", "senior_management", "technical_worker"]
    for account in accounts:
        check_password(account["password"], common_passwords(), email=validate_email(account["email"]))


async def test_a_service_credential_is_signed_with_the_current_key_for_its_scopes_and_no_user(
    cli_env, tmp_path: Path
) -> None:
    assert run("rotate-keys").exit_code == 0
    out = tmp_path / "tokens" / "reconcile.jwt"
    issued = run(
        "issue-service-token", "--subject", "reconcile", "--scope", "sales:digest", "--scope", "sales:republish",
        "--out", str(out), "--ttl-s", "600",
    )  # fmt: skip
    assert issued.exit_code == 0, issued.output
    assert out.stat().st_mode & 0o777 == 0o600
    published = tmp_path / "jwks.json"
    published.write_text(json.dumps(key_store(AuthSettings()).jwks()))
    verifier = TokenVerifier(KeyStore(jwks_from_url(published.as_uri())))
    token = out.read_text().strip()
    caller = await verifier.verify_service(token)
    assert (caller.subject, caller.scopes) == ("reconcile", frozenset({"sales:digest", "sales:republish"}))
    with pytest.raises(InvalidToken):
        await verifier.verify(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600
    refused = run("issue-service-token", "--subject", "x", "--scope", "sales:everything")
    assert refused.exit_code != 0
    assert "unknown scope" in refused.output
