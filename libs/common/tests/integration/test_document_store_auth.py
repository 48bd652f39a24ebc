"""The document store lets in only clients that log in (the local stack's FerretDB and compose's MongoDB
both ask; a throwaway test container does not, and these tests are skipped there)."""

from __future__ import annotations

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure
from pymongo.uri_parser import parse_uri

from supply_common.testing.fixtures import not_here

pytestmark = pytest.mark.integration


def without_credentials(url: str) -> str:
    parsed = parse_uri(url)
    host, port = parsed["nodelist"][0]
    return f"mongodb://{host}:{port}"


@pytest.fixture
def authenticated_url(mongo_url: str) -> str:
    if not parse_uri(mongo_url)["username"]:
        not_here("the document store in use asks nobody (a test container); the local stack's does")
    return mongo_url


def test_a_client_without_credentials_can_neither_read_nor_write(authenticated_url: str) -> None:
    client: MongoClient = MongoClient(without_credentials(authenticated_url), serverSelectionTimeoutMS=5_000)
    try:
        with pytest.raises(OperationFailure) as read:
            client.supply_store.sales.find_one()
        with pytest.raises(OperationFailure) as write:
            client.supply_store.sales.insert_one({"x": 1})
        with pytest.raises(OperationFailure):
            client.list_database_names()
    finally:
        client.close()
    assert read.value.code == write.value.code == 13  # Unauthorized


def test_a_wrong_password_is_refused(authenticated_url: str) -> None:
    parsed = parse_uri(authenticated_url)
    host, port = parsed["nodelist"][0]
    client: MongoClient = MongoClient(
        host,
        port,
        username=parsed["username"],
        password="not-the-password",
        authSource=parsed["options"].get("authsource", "admin"),
        serverSelectionTimeoutMS=5_000,
    )
    try:
        with pytest.raises(OperationFailure) as refused:
            client.supply_store.sales.find_one()
    finally:
        client.close()
    assert refused.value.code == 18  # AuthenticationFailed
