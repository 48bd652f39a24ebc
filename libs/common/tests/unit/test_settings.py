"""Settings every service shares."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from supply_common.settings import KafkaSettings, ServiceSettings, auto_workers


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 1), (3, 2), (5, 4), (64, 4)])
def test_auto_workers_leave_a_core_to_the_rest_of_the_machine(monkeypatch, cores: int, workers: int) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert auto_workers() == workers
    monkeypatch.setenv("WORKERS", "auto")
    assert ServiceSettings().workers == workers


@pytest.mark.parametrize("value", ["0", "65", "many"])
def test_other_worker_counts_are_refused(monkeypatch, value: str) -> None:
    monkeypatch.setenv("WORKERS", value)
    with pytest.raises(ValueError, match="workers"):
        ServiceSettings()


def test_kafka_clients_authenticate_as_the_configured_principal() -> None:
    settings = KafkaSettings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_username="sales-writer",
        kafka_password="secret",  # type: ignore[arg-type]
    )
    options = settings.kafka_client_options()
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("sales-writer", "secret")


def test_kafka_over_sasl_without_credentials_fails_at_start_up(monkeypatch) -> None:
    monkeypatch.delenv("KAFKA_USERNAME", raising=False)
    monkeypatch.delenv("KAFKA_PASSWORD", raising=False)
    with pytest.raises(ValidationError, match="KAFKA_USERNAME and KAFKA_PASSWORD"):
        KafkaSettings(kafka_security_protocol="SASL_PLAINTEXT")


def test_a_plaintext_kafka_client_sends_no_credentials() -> None:
    options = KafkaSettings(kafka_security_protocol="PLAINTEXT").kafka_client_options()
    assert not any(name.startswith("sasl_") for name in options)
