"""Staff's search as a user sees it: partial, any case; counts and totals of the whole match; sorts by
date, total and store; pages both ways; the whole match as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from bson import ObjectId

from supply_common.contract import Sale, decimal_text, sale_total
from supply_common.testing.tokens import ISSUER_FOR_TESTS as ISSUER
from supply_projector.adapters.kafka import KafkaOffsets
from supply_projector.adapters.search_backfill import backfill_search
from supply_projector.adapters.words import FILLED, words_collection
from supply_projector.bootstrap import Container
from supply_projector.entrypoints.app import create_app

from .conftest import consuming, produce, versions_of, wait_for
from .events import SAMPLES, sale_event

pytestmark = pytest.mark.integration
STAFF = ISSUER.bearer("technical_worker", sub="t", email="t@example.com")
CUSTOMER = ISSUER.bearer("customer", sub="c", email="c@example.com")


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container)
    app.state.offsets = KafkaOffsets(container.settings, container.settings.consumer_group)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://projector") as made:
        await produce(container.settings, [sale_event(sale, 1, "create") for sale in SAMPLES])
        async with consuming(container):
            await wait_for(lambda: len(versions_of(container)) == len(SAMPLES))
        yield made
    await app.state.offsets.close()


def total(sale: Sale) -> Decimal:
    return sale_total(list(sale.items))


async def ids(client: httpx.AsyncClient, **params: str) -> set[str]:
    answer = await client.get("/sales", params=params | {"limit": "100"}, headers=STAFF)
    assert answer.status_code == 200, answer.text
    return {item["id"] for item in answer.json()["items"]}


async def test_item_tag_and_email_are_found_by_any_part_that_starts_a_word_in_any_case(
    client: httpx.AsyncClient,
) -> None:
    def with_item(word: str) -> set[str]:
        return {s.id for s in SAMPLES if any(w.startswith(word) for i in s.items for w in i.name.lower().split())}

    assert await ids(client, item="Note") == with_item("note") != set()
    assert await ids(client, item="PAPER") == with_item("paper") != set()
    assert await ids(client, item="printer pa") == {
        s.id for s in SAMPLES if any(i.name == "printer paper" for i in s.items)
    }
    assert await ids(client, item="otepad") == set()
    assert await ids(client, tag="Off") == {s.id for s in SAMPLES if any("office" in i.tags for i in s.items)} != set()
    sale = SAMPLES[2]
    start = sale.customer.email[:4].upper()
    assert await ids(client, email=start) == {s.id for s in SAMPLES if s.customer.email.startswith(start.lower())}
    assert sale.id in await ids(client, email=start)
    assert await ids(client, email=sale.customer.email) == {
        s.id for s in SAMPLES if s.customer.email == sale.customer.email
    }


async def test_the_summary_counts_and_totals_the_whole_match_not_a_page(client: httpx.AsyncClient) -> None:
    matching = [s for s in SAMPLES if any("office" in i.tags for i in s.items)]
    summary = await client.get("/sales/summary", params={"tag": "office"}, headers=STAFF)
    assert summary.json() == {
        "count": len(matching),
        "total": decimal_text(sum(map(total, matching), Decimal(0))),
        "kind": "exact_by_reading",
        "more": False,
    }
    nothing = await client.get("/sales/summary", params={"item": "no such thing"}, headers=STAFF)
    assert nothing.json() == {"count": 0, "total": "0", "kind": "exact_by_reading", "more": False}
    assert (await client.get("/sales/summary", headers=CUSTOMER)).status_code == 403


async def test_a_word_no_sale_holds_finds_nothing_and_a_sale_that_brings_it_is_found_at_once(
    container: Container, client: httpx.AsyncClient
) -> None:
    """Such a search is answered from the rollups' item names and tags (that it reads no sale is
    checked in tests/unit/test_vocabulary.py); here, that the answers stay right before and after."""
    word = f"zither{ObjectId()}"
    assert await ids(client, item=word[:9]) == set()
    assert await ids(client, tag=word) == set()
    export = await client.get("/sales/export", params={"item": word}, headers=STAFF)
    assert export.status_code == 200
    assert len(list(csv.reader(io.StringIO(export.text)))) == 1  # the header alone

    template = SAMPLES[0]
    item = template.items[0].model_copy(update={"name": f"Concert {word}", "tags": [word]})
    sale = template.model_copy(update={"id": str(ObjectId()), "items": [item]})
    await produce(container.settings, [sale_event(sale, 1, "create")])
    async with consuming(container):
        await wait_for(lambda: sale.id in versions_of(container), what="the new sale")
    assert await ids(client, item=word[:9].upper()) == {sale.id}
    assert await ids(client, item="concert zith") == {sale.id}
    assert await ids(client, tag=word) == {sale.id}
    summary = (await client.get("/sales/summary", params={"item": word}, headers=STAFF)).json()
    assert (summary["count"], summary["total"]) == (1, decimal_text(total(sale)))


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("date_desc", lambda s: (s.saleDate, s.id)),
        ("total_asc", lambda s: (total(s), s.id)),
        ("total_desc", lambda s: (total(s), s.id)),
        ("store_asc", lambda s: (s.storeLocation, s.saleDate, s.id)),
    ],
)
async def test_pages_follow_the_sort_forwards_and_back(client: httpx.AsyncClient, sort: str, key) -> None:
    expected = [s.id for s in sorted(SAMPLES, key=key, reverse=sort.endswith("desc"))]
    pages: list[list[str]] = []
    cursor = None
    while True:
        answer = (
            await client.get(
                "/sales", params={"sort": sort, "limit": 3, **({"cursor": cursor} if cursor else {})}, headers=STAFF
            )
        ).json()
        pages.append([item["id"] for item in answer["items"]])
        assert (answer["prev_cursor"] is None) == (len(pages) == 1)
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert [i for page in pages for i in page] == expected
    back = []
    cursor = answer["prev_cursor"]
    while cursor is not None:
        answer = (await client.get("/sales", params={"sort": sort, "limit": 3, "cursor": cursor}, headers=STAFF)).json()
        back.insert(0, [item["id"] for item in answer["items"]])
        assert answer["next_cursor"] is not None
        cursor = answer["prev_cursor"]
    assert back == pages[:-1]


async def test_the_export_is_every_matching_sale_as_csv_in_the_search_order(client: httpx.AsyncClient) -> None:
    answer = await client.get("/sales/export", params={"item": "pen", "sort": "total_desc"}, headers=STAFF)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    matching = sorted(
        (s for s in SAMPLES if any(i.name.startswith("pen") for i in s.items)),
        key=lambda s: (total(s), s.id),
        reverse=True,
    )
    assert [row["id"] for row in rows] == [s.id for s in matching] != []
    first = matching[0]
    assert rows[0]["total"] == decimal_text(total(first))
    assert rows[0]["customer.email"] == first.customer.email
    assert rows[0]["storeLocation"] == first.storeLocation
    assert rows[0]["items"].count(" x ") == len(first.items)
    assert (await client.get("/sales/export", headers=CUSTOMER)).status_code == 403


async def test_the_copy_keeps_the_dataset_shape_with_the_item_names_under_the_metadata_field(
    container: Container, client: httpx.AsyncClient
) -> None:
    stored = container.database[container.active.name()].find_one({"_id": ObjectId(SAMPLES[0].id)})
    assert set(stored) == {
        "_id",
        "saleDate",
        "items",
        "storeLocation",
        "customer",
        "couponUsed",
        "purchaseMethod",
        "_supply",
    }
    assert stored["_supply"]["names"] == list(dict.fromkeys(item.name for item in SAMPLES[0].items))
    assert not {"item_keys", "tag_keys", "lines"} & set(stored["_supply"])
    words = container.database[words_collection(container.active.name())]
    assert words.find_one({"_id": "item:notepad|notepad"}) is not None
    view = (await client.get(f"/sales/{SAMPLES[0].id}", headers=STAFF)).json()
    assert set(view) == {"id", "version", "total", "sale"}


async def test_a_name_first_seen_in_a_sale_just_applied_is_found_at_once(
    container: Container, client: httpx.AsyncClient
) -> None:
    sale = SAMPLES[1].model_copy(
        update={"id": str(ObjectId()), "items": [SAMPLES[1].items[0].model_copy(update={"name": "Zebra Stapler"})]}
    )
    assert await ids(client, item="stap") == set()
    await produce(container.settings, [sale_event(sale, 1, "create")])
    async with consuming(container):
        await wait_for(lambda: sale.id in versions_of(container))
    assert await ids(client, item="STAP") == {sale.id}
    assert await ids(client, item="zebra s") == {sale.id}


async def test_copies_written_by_an_earlier_version_get_their_names_and_words_in_place(
    container: Container, client: httpx.AsyncClient
) -> None:
    """An earlier version kept every word start of every name in each document, and no lookup."""
    name = container.active.name()
    sales = container.database[name]
    earlier = {"_supply.item_keys": ["n", "no"], "_supply.tag_keys": ["o"], "_supply.lines": [{"name": "x"}]}
    sales.update_many({}, {"$unset": {"_supply.names": ""}, "$set": earlier})
    container.database.drop_collection(words_collection(name))
    assert await ids(client, item="note") == set()

    newer = SAMPLES[1].model_copy(update={"id": str(ObjectId())})
    await produce(container.settings, [sale_event(newer, 1, "create")])
    async with consuming(container):  # the lookup has no marker: the consumer walks the copy beside
        await wait_for(lambda: container.database[words_collection(name)].find_one({"_id": FILLED}) is not None)
        await wait_for(lambda: newer.id in versions_of(container))

    notepads = {s.id for s in [*SAMPLES, newer] if any(i.name == "notepad" for i in s.items)}
    assert await ids(client, item="note") == notepads != set()
    assert newer.id in await ids(client, item=SAMPLES[1].items[0].name)
    stored = sales.find_one({"_id": ObjectId(SAMPLES[0].id)})
    assert not {"item_keys", "tag_keys", "lines"} & set(stored["_supply"])
    assert container.database[words_collection(name)].find_one({"_id": FILLED}) is not None
    assert backfill_search(container.database, name, container.store.pinned().words(), batch=4) == 0


async def test_a_walk_told_to_stop_leaves_the_lookup_unmarked_for_the_next_start(
    container: Container, client: httpx.AsyncClient
) -> None:
    name = container.active.name()
    container.database.drop_collection(words_collection(name))
    pages = iter(range(2))

    def stop() -> bool:
        return next(pages, None) is None  # two pages, then stop

    words = container.store.pinned().words()
    assert backfill_search(container.database, name, words, batch=2, stop=stop) is None
    assert not words.filled()
    assert backfill_search(container.database, name, words, batch=2) == 0  # nothing to update: the names are there
    assert words.filled()
