from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ValidationError

from supply_auth.adapters.hashing import Argon2Parameters, PasswordHasher
from supply_auth.bootstrap import bootstrap
from supply_auth.config import AuthSettings


def settings(**values):
    return AuthSettings(_env_file=None, **values)


def test_defaults_are_the_service_defaults():
    s = settings()
    assert s.port == 8001
    assert s.mysql_database == "auth"
    assert s.database_url().split("?")[0].endswith("/auth")
    assert s.auth_access_token_ttl_s == 300


@pytest.mark.parametrize(
    "values",
    [
        {"auth_access_token_ttl_s": 301},
        {"auth_argon2_memory_kib": 19455},
        {"auth_argon2_time_cost": 1},
        {"auth_account_slowdown_after": 5, "auth_account_lock_after": 4},
    ],
)
def test_unsafe_settings_are_refused(values):
    with pytest.raises(ValidationError):
        settings(**values)


def test_production_needs_an_explicit_keys_folder():
    with pytest.raises(ValidationError, match="AUTH_KEYS_DIR"):
        settings(environment="production", mysql_url="mysql+pymysql://u:p@db:3306")


PRODUCTION_MAIL = {
    "auth_smtp_url": "smtp://mailer:s%40cret@mail.example.com:2587",
    "auth_mail_from": "Supply Store <no-reply@example.com>",
    "auth_public_base_url": "https://store.example.com",
}


@pytest.mark.parametrize("missing", sorted(PRODUCTION_MAIL))
def test_production_needs_a_mail_server_a_sender_and_the_public_url(tmp_path, missing):
    values = {k: v for k, v in PRODUCTION_MAIL.items() if k != missing}
    with pytest.raises(ValidationError, match=missing.upper()):
        settings(environment="production", mysql_url="mysql+pymysql://u:p@db:3306", auth_keys_dir=tmp_path, **values)


def test_an_empty_smtp_url_counts_as_unset_and_is_refused_in_production(tmp_path):
    assert settings(auth_smtp_url="", auth_mail_dir="").auth_smtp_url is None
    with pytest.raises(ValidationError, match="AUTH_SMTP_URL"):
        settings(
            environment="production",
            mysql_url="mysql+pymysql://u:p@db:3306",
            auth_keys_dir=tmp_path,
            **{**PRODUCTION_MAIL, "auth_smtp_url": " "},
        )


def test_production_mail_goes_through_smtp_and_development_mail_to_the_drop_folder(tmp_path):
    from supply_auth.adapters.mail import MailDrop, SmtpMailer
    from supply_auth.bootstrap import mailer

    production = mailer(
        settings(
            environment="production", mysql_url="mysql+pymysql://u:p@db:3306", auth_keys_dir=tmp_path, **PRODUCTION_MAIL
        )
    )
    assert isinstance(production, SmtpMailer)
    assert (production.host, production.port, production.user, production.password) == (
        "mail.example.com",
        2587,
        "mailer",
        "s@cret",
    )
    development = mailer(settings(environment="development"))
    assert isinstance(development, MailDrop)
    assert development.folder.parts[-2:] == (".stack", "mail")
    with pytest.raises(RuntimeError, match="AUTH_MAIL_DIR"):
        mailer(settings(environment="test"))
    with pytest.raises(ValueError, match="smtp://"):
        mailer(settings(auth_smtp_url="smtps://mail.example.com"))


def test_the_public_url_must_be_an_http_url():
    with pytest.raises(ValidationError):
        settings(auth_public_base_url="javascript:alert(1)")
    assert settings(auth_public_base_url="https://store.example.com/shop").auth_public_base_url.endswith("/shop")


def test_production_with_an_empty_keys_folder_fails_at_start(tmp_path):
    s = settings(
        environment="production", mysql_url="mysql+pymysql://u:p@db:3306", auth_keys_dir=tmp_path, **PRODUCTION_MAIL
    )
    with pytest.raises(RuntimeError, match="no signing key"):
        bootstrap(s)
    assert list(tmp_path.iterdir()) == []


def test_development_makes_its_first_key(tmp_path):
    auth = bootstrap(settings(environment="development", auth_keys_dir=tmp_path / "keys"))
    assert len(list((tmp_path / "keys").glob("ed25519-*.pem"))) == 1
    auth.close()


def test_hashes_are_argon2id_and_upgrade_when_parameters_rise():
    weaker = PasswordHasher(Argon2Parameters(19456, 2, 1))
    stronger = PasswordHasher(Argon2Parameters(19456, 3, 1))
    stored = weaker.hash("a sturdy passphrase")

    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert weaker.verify("a sturdy passphrase", stored) == (True, None)
    ok, upgraded = stronger.verify("a sturdy passphrase", stored)
    assert ok
    assert upgraded is not None
    assert upgraded.startswith("$argon2id$v=19$m=19456,t=3,p=1$")
    assert weaker.verify("wrong passphrase!", stored) == (False, None)
    assert weaker.verify("anything at all", None) == (False, None)
    assert weaker.verify("anything at all", "not a hash") == (False, None)


def test_hashes_run_one_per_cpu_by_default_and_never_more_than_the_limit(monkeypatch):
    assert PasswordHasher(Argon2Parameters(19456, 2, 1)).max_concurrent == (os.cpu_count() or 1)
    hasher = PasswordHasher(Argon2Parameters(19456, 2, 1), max_concurrent=2)
    stored = hasher.hash("a sturdy passphrase")
    running, most = 0, 0
    lock = threading.Lock()
    verify_and_update = hasher._context.verify_and_update

    def counted(password: str, hashed: str) -> tuple[bool, str | None]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return verify_and_update(password, hashed)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(hasher._context, "verify_and_update", counted)
    with ThreadPoolExecutor(8) as callers:
        results = list(callers.map(lambda _: hasher.verify("a sturdy passphrase", stored), range(16)))

    assert results == [(True, None)] * 16
    assert most == 2
