"""The convergence check: MySQL, the source of truth, against the MongoDB copy, sale by sale.

It reads MySQL's tables directly (not through any service) and rebuilds each sale's dataset
document, so it checks the whole pipeline rather than trusting any part of it. A sale converges
when the copy holds the same document (field for field, type for type), the same version and the
same hash; the copy must hold nothing else (no strays, no resurrected deletes).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import PyMongoError
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from supply_common.contract import METADATA_FIELD, Sale, from_document, sale_hash, to_document
from supply_projector.domain.money import decode


@dataclass
class Difference:
    sale_id: str
    kind: str
    detail: str = ""


@dataclass
class ConvergenceReport:
    sales_in_mysql: int = 0
    documents_in_copy: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return not self.differences

    def summary(self, limit: int = 20) -> str:
        counts: dict[str, int] = defaultdict(int)
        for difference in self.differences:
            counts[difference.kind] += 1
        lines = [
            f"mysql={self.sales_in_mysql} copy={self.documents_in_copy} differences={len(self.differences)} "
            + " ".join(f"{kind}={count}" for kind, count in sorted(counts.items()))
        ]
        lines += [f"  {d.kind} {d.sale_id} {d.detail}" for d in self.differences[:limit]]
        return "\n".join(lines)


def mysql_sales(engine: Engine) -> dict[str, tuple[int, Sale]]:
    """Every sale in MySQL as (version, Sale), rebuilt from the normalised rows."""
    with engine.connect() as connection:
        sales = connection.execute(text("SELECT * FROM sales")).mappings().all()
        items = connection.execute(
            text("SELECT sale_id, position, name, price, quantity FROM sale_items ORDER BY sale_id, position")
        ).all()
        tags = connection.execute(
            text("SELECT sale_id, item_position, tag FROM sale_item_tags ORDER BY sale_id, item_position, position")
        ).all()
    tags_by_item: dict[tuple[str, int], list[str]] = defaultdict(list)
    for sale_id, item_position, tag in tags:
        tags_by_item[(sale_id, item_position)].append(tag)
    items_by_sale: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sale_id, position, name, price, quantity in items:
        items_by_sale[sale_id].append(
            {"name": name, "tags": tags_by_item[(sale_id, position)], "price": price, "quantity": quantity}
        )
    result: dict[str, tuple[int, Sale]] = {}
    for row in sales:
        sale = Sale.model_validate(
            {
                "_id": row["id"],
                "saleDate": row["sale_date"].replace(tzinfo=UTC),
                "items": items_by_sale[row["id"]],
                "storeLocation": row["store_location"],
                "customer": {
                    "gender": row["customer_gender"],
                    "age": row["customer_age"],
                    "email": row["customer_email"],
                    "satisfaction": row["customer_satisfaction"],
                },
                "couponUsed": bool(row["coupon_used"]),
                "purchaseMethod": row["purchase_method"],
            }
        )
        result[row["id"]] = (row["version"], sale)
    return result


def compare(engine: Engine, copy: Collection[Any]) -> ConvergenceReport:
    """One pass over both sides."""
    truth = mysql_sales(engine)
    report = ConvergenceReport(sales_in_mysql=len(truth))
    seen: set[str] = set()
    for stored in copy.find({}):
        document = decode(stored, "double")
        report.documents_in_copy += 1
        sale_id = str(document["_id"])
        seen.add(sale_id)
        if sale_id not in truth:
            report.differences.append(Difference(sale_id, "stray", "in the copy, not in MySQL"))
            continue
        version, sale = truth[sale_id]
        metadata = document.get(METADATA_FIELD) or {}
        dataset_fields = {key: value for key, value in document.items() if key != METADATA_FIELD}
        if metadata.get("version") != version:
            report.differences.append(Difference(sale_id, "stale", f"copy v{metadata.get('version')} mysql v{version}"))
        elif dataset_fields != (expected := to_document(sale)):
            fields = sorted(
                key for key in expected.keys() | dataset_fields.keys() if expected.get(key) != dataset_fields.get(key)
            )
            report.differences.append(Difference(sale_id, "different", f"same version, other {', '.join(fields)}"))
        elif metadata.get("hash") != sale_hash(sale) or sale_hash(from_document(document)) != sale_hash(sale):
            report.differences.append(Difference(sale_id, "hash", "stored hash does not match the content"))
    for sale_id in truth.keys() - seen:
        report.differences.append(Difference(sale_id, "missing", f"mysql v{truth[sale_id][0]}"))
    return report


def wait_for_convergence(engine: Engine, copy: Collection[Any], timeout_s: float = 90.0) -> ConvergenceReport:
    """Compare until equal or until the bound; returns the last report (print `summary()` on failure).
    A store that cannot be reached for a moment is asked again within the same bound."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            report = compare(engine, copy)
        except (PyMongoError, OperationalError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
            continue
        if report.converged or time.monotonic() > deadline:
            return report
        time.sleep(1.0)
