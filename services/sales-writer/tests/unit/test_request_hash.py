"""The Idempotency-Key fingerprint ignores formatting but not content or caller."""

from __future__ import annotations

from supply_common.contract import Actor, SaleBody
from supply_sales_writer.service_layer.services import request_hash


def body(price: object = "2.50", coupon: bool = False) -> SaleBody:
    return SaleBody.model_validate(
        {
            "saleDate": "2024-05-01T12:00:00+02:00",
            "items": [{"name": "pens", "tags": [], "price": price, "quantity": 1}],
            "storeLocation": "Austin",
            "customer": {"gender": "M", "age": 30, "email": "a@example.com", "satisfaction": 3},
            "couponUsed": coupon,
            "purchaseMethod": "Phone",
        }
    )


def test_same_content_in_another_form_has_the_same_fingerprint() -> None:
    actor = Actor(user_id="u1", role="technical_worker")
    assert request_hash(body("2.50"), actor) == request_hash(body(2.5), actor)
    assert request_hash(body(), actor) != request_hash(body(coupon=True), actor)
    assert request_hash(body(), actor) != request_hash(body(), Actor(user_id="u2", role="technical_worker"))
