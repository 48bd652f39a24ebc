import pytest

from supply_common.testing.sales import sale_body as a_sale
from supply_gateway.entrypoints.web.forms import form_values, plain_reason, sale_body, submitted_values


def test_the_sale_form_becomes_the_api_body() -> None:
    form = {
        "saleDate": "2031-01-15T09:30",
        "storeLocation": "London",
        "purchaseMethod": "Phone",
        "couponUsed": "on",
        "customer.email": " a@b.io ",
        "customer.gender": "M",
        "customer.age": "41",
        "customer.satisfaction": "5",
        "items.0.name": "binder",
        "items.0.tags": "school, general,",
        "items.0.price": "12.25",
        "items.0.quantity": "2",
        "items.1.name": "",
        "items.1.tags": "",
        "items.1.price": "",
        "items.1.quantity": "",
        "items.2.name": "pens",
        "items.2.quantity": "many",
    }
    body = sale_body(form)
    assert body["saleDate"] == "2031-01-15T09:30:00.000Z"
    assert body["couponUsed"] is True
    assert body["customer"] == {"gender": "M", "age": 41, "email": "a@b.io", "satisfaction": 5}
    assert body["items"][0] == {"name": "binder", "tags": ["school", "general"], "price": "12.25", "quantity": 2}
    assert body["items"][1]["quantity"] == "many", "left as typed so the writer names the field"
    assert len(body["items"]) == 2
    assert len(submitted_values(form)["items"]) == 2


def test_a_sale_fills_the_form_and_round_trips() -> None:
    sale = a_sale(saleDate="2015-03-23T21:06:49.506Z", price="56.12", quantity=5, couponUsed=True)
    values = form_values(sale)
    assert values["saleDate"] == "2015-03-23T21:06:49.506"
    form = {k: v for k, v in values.items() if k != "items"}
    form["couponUsed"] = "on"
    for index, item in enumerate(values["items"]):
        form.update({f"items.{index}.{name}": value for name, value in item.items()})
    assert sale_body(form) == sale


@pytest.mark.parametrize(
    ("field", "reason", "plain"),
    [
        ("customer.gender", "String should have at least 1 character", "Choose a gender."),
        (
            "customer.satisfaction",
            "Input should be a valid integer, unable to parse string as an integer",
            "Choose a score from 1 to 5.",
        ),
        (
            "customer.email",
            "value error, An email address must have an @-sign.",
            "Enter an email address like name@example.com.",
        ),
        ("storeLocation", "Input should be 'Denver', 'Seattle' or 'London'", "Choose a store."),
        (
            "customer.age",
            "Input should be a valid integer, unable to parse string as an integer",
            "Enter a whole number.",
        ),
        ("customer.age", "Input should be greater than or equal to 0", "Enter 0 or more."),
        (
            "items.3.price",
            "Decimal input should have no more than 2 decimal places",
            "Use at most 2 decimal places, like 12.50.",
        ),
        ("items.0.quantity", "Input should be greater than or equal to 1", "Enter a whole number of at least 1."),
        ("items.1.name", "String should have at least 1 character", "Enter the item's name."),
        ("items", "List should have at least 1 item after validation, not 0", "Add at least one item."),
        ("email", "Value error, The domain name x is not valid.", "The domain name x is not valid."),
        (
            "role",
            "Input should be 'technical_worker' or 'senior_management'",
            "Choose one of technical_worker or senior_management.",
        ),
        ("password", "Choose a longer password.", "Choose a longer password."),
    ],
)
def test_validator_reasons_are_said_plainly(field: str, reason: str, plain: str) -> None:
    assert plain_reason(field, reason) == plain


def test_prices_in_the_edit_form_are_written_as_money() -> None:
    sale = {"items": [{"name": "a", "price": "1234.5"}, {"name": "b", "price": "3"}, {"name": "c", "price": "0.125"}]}
    assert [item["price"] for item in form_values(sale)["items"]] == ["1234.50", "3.00", "0.125"]


@pytest.mark.parametrize("typed", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00"])
def test_a_sale_date_beyond_the_calendar_in_utc_goes_to_the_writer_as_typed(typed: str) -> None:
    assert sale_body({"saleDate": typed})["saleDate"] == typed, "the writer refuses it with the field's reason"
    assert form_values({"saleDate": typed, "items": [], "customer": {}})["saleDate"] == typed
