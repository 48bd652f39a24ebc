"""The customer e-mail check: the quick path for everyday addresses never accepts what the full
check (`email_validator`) refuses."""

from __future__ import annotations

import json
import unicodedata

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from supply_common.contract import canonical, from_extended_json, sale_hash
from supply_common.contract.sale import _email, plain_email
from supply_common.email_address import normalise_email
from supply_common.testing import SAMPLE_DATASET

PIECES = ["a", "Z", "0", "9", ".", "..", "-", "--", "_", "+", "@", "xn--", "é", " ", "\t", "localhost", "test"]
TLDS = ["com", "sv", "io", "test", "local", "localhost", "onion", "arpa", "invalid", "c0m", "7", "x", "a" * 64, ""]


def _fully_valid(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return False
    return True


def test_every_address_of_the_sample_dataset_takes_the_quick_path() -> None:
    emails = [json.loads(line)["customer"]["email"] for line in SAMPLE_DATASET.read_text().splitlines()]
    assert emails
    assert all(plain_email(email) for email in emails)


addresses = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join([*labels, tld])}",
    st.lists(st.sampled_from(PIECES), min_size=0, max_size=8).map("".join),
    st.lists(st.lists(st.sampled_from(PIECES), min_size=0, max_size=6).map("".join), min_size=0, max_size=4),
    st.sampled_from(TLDS),
)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(addresses, st.text(alphabet="aZ09.-_+@x", max_size=40)))
@example("a" * 64 + "@example.com")
@example("a" * 65 + "@example.com")
@example("a@" + ".".join(["b" * 63] * 4) + ".com")
@example("a@ab--cd.com")
@example("a@xn--abc.com")
@example("a@example.test")
@example("a@sub.LOCALHOST")
def test_the_quick_path_accepts_nothing_the_full_check_refuses(address: str) -> None:
    if plain_email(address):
        assert _fully_valid(address), address


@pytest.mark.parametrize(
    "address",
    ["a..b@example.com", ".a@example.com", "a@-example.com", "a@example", "a@example.test", "a@x.localhost", "a@1.23"],
)
def test_refused_addresses_are_still_refused(address: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        _email(address)


@pytest.mark.parametrize("address", ["o'brien@example.com", "user@bücher.de", "a@xn--bcher-kva.de"])
def test_addresses_beyond_the_quick_path_get_the_full_check(address: str) -> None:
    assert not plain_email(address)
    assert _email(address) == address


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("RV.Someone@Example.com", "rv.someone@example.com"),
        ("cauho@witwuta.sv", "cauho@witwuta.sv"),
        ("Jose\u0301@B\u00fccher.DE", "jos\u00e9@b\u00fccher.de"),  # decomposed accent: composed (NFC)
        ("O'Brien@EXAMPLE.com", "o'brien@example.com"),
    ],
)
def test_a_customer_email_is_kept_in_the_form_account_addresses_are_kept_in(typed: str, kept: str) -> None:
    # auth keeps an account's address as NFC of the trimmed text, lower-cased: a customer's token
    # carries that, and it must equal the sale's address for "my purchases" to find the sale.
    assert normalise_email(typed) == kept
    assert unicodedata.normalize("NFC", typed.strip()).lower() == kept
    assert _email(typed) == kept


def test_the_sale_its_canonical_form_and_hash_follow_the_normalised_email() -> None:
    line = SAMPLE_DATASET.read_text().splitlines()[0]
    sale = from_extended_json(line)
    shouted = json.loads(line)
    shouted["customer"]["email"] = sale.customer.email.upper()
    louder = from_extended_json(json.dumps(shouted))
    assert louder.customer.email == sale.customer.email
    assert canonical(louder) == canonical(sale)
    assert sale_hash(louder) == sale_hash(sale)
