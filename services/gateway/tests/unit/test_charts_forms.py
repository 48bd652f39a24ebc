from supply_gateway.entrypoints.charts import bar_chart, column_chart, compact, nice_ticks
from supply_gateway.entrypoints.forms import form_values, sale_body, submitted_values


def test_ticks_are_round_and_cover_the_maximum() -> None:
    assert nice_ticks(222_707) == [0, 50_000, 100_000, 150_000, 200_000, 250_000]
    assert nice_ticks(102) == [0, 25, 50, 75, 100, 125]
    assert nice_ticks(0) == [0.0, 1.0]
    assert compact(250_000) == "250k"
    assert compact(1_500_000) == "1.5M"
    assert compact(12) == "12"


def test_bars_scale_to_the_axis() -> None:
    chart = bar_chart("Revenue by store", "Revenue (USD)", [("Denver", 200.0), ("Austin", 50.0)])
    assert [bar.label for bar in chart.bars] == ["Denver", "Austin"]
    assert chart.bars[0].width == 4 * chart.bars[1].width
    assert chart.ticks[-1].position == chart.plot_left + chart.plot_width
    assert not chart.empty
    assert bar_chart("x", "y", []).empty


def test_columns_thin_their_labels() -> None:
    months = [(f"2015-{m:02d}", float(m)) for m in range(1, 13)] * 5
    chart = column_chart("Revenue by month", "Revenue (USD)", "Month", months, max_labels=12)
    assert len(chart.bars) == 60
    assert len(chart.labels) == 12
    assert all(bar.y + bar.height == chart.plot_top + chart.plot_height for bar in chart.bars)


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
    sale = {
        "saleDate": "2015-03-23T21:06:49.506Z",
        "items": [{"name": "pens", "tags": ["office"], "price": "56.12", "quantity": 5}],
        "storeLocation": "Denver",
        "customer": {"gender": "M", "age": 42, "email": "c@x.io", "satisfaction": 4},
        "couponUsed": True,
        "purchaseMethod": "Online",
    }
    values = form_values(sale)
    assert values["saleDate"] == "2015-03-23T21:06:49.506"
    form = {k: v for k, v in values.items() if k != "items"}
    form["couponUsed"] = "on"
    for index, item in enumerate(values["items"]):
        form.update({f"items.{index}.{name}": value for name, value in item.items()})
    assert sale_body(form) == sale
