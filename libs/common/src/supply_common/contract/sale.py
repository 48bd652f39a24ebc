"""The sale in the shape of the public "Supply Store" dataset.

One sale is the same thing in three places: a request body (validated here), the `data` of an event
(JSON with decimals as strings and dates as RFC 3339), and a MongoDB document (BSON types). This
module owns the validation rules; `codec` owns the conversions and the content hash.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Final, Literal

import email_validator
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from supply_common.email_address import normalise_email

STORES: Final = ("Denver", "Seattle", "London", "Austin", "New York", "San Diego")
PURCHASE_METHODS: Final = ("Online", "Phone", "In store")
ITEM_CATALOGUE: Final[dict[str, tuple[str, ...]]] = {
    "printer paper": ("office", "stationary"),
    "notepad": ("office", "writing", "school"),
    "pens": ("writing", "office", "school", "stationary"),
    "backpack": ("school", "travel", "kids"),
    "envelopes": ("stationary", "office", "general"),
    "binder": ("school", "general", "organization"),
    "laptop": ("electronics", "school", "office"),
}

SALE_FILTERS: Final = (
    "store",
    "method",
    "coupon",
    "email",
    "item",
    "tag",
    "date_from",
    "date_to",
    "total_min",
    "total_max",
    "sort",
)
"""The query parameters that filter and order a list of sales in the read API (`GET /sales`); the
web UI carries the same names in its own URLs."""

EARLIEST_SALE_DATE: Final = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_SALE_DATE: Final = datetime(2200, 1, 1, tzinfo=UTC)
"""A sale's date is at or after the first and before the second (the dataset's are 2013-2017)."""
MAX_ITEMS: Final = 100
MAX_TAGS: Final = 20
MAX_PRICE: Final = Decimal("1000000.00")
MAX_QUANTITY: Final = 1_000_000
MAX_SALE_TOTAL: Final = Decimal("100000000.00")
"""A sale's total (price x quantity over its lines) is at most 100 million: 10^10 cents, so the copy's
totals in cents (64-bit integers, also summed over many sales by the analytics) and in doubles (exact
to 15 digits on FerretDB) hold every accepted sale with room to spare. No supply store comes near:
the dataset's largest sale is under 5,000."""

StoreLocation = Literal["Denver", "Seattle", "London", "Austin", "New York", "San Diego"]
PurchaseMethod = Literal["Online", "Phone", "In store"]
ObjectIdStr = Annotated[
    StrictStr,
    StringConstraints(pattern=r"^[0-9a-f]{24}$"),
    Field(description="A MongoDB ObjectId as 24 lowercase hex digits.", examples=["5bd761dcae323e45a93ccfe8"]),
]


_PLAIN_EMAIL: Final = re.compile(
    r"(?P<local>[A-Za-z0-9]+(?:[._+-][A-Za-z0-9]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})\Z"
)


def plain_email(value: str) -> bool:
    """True for the everyday shape of address that `email_validator` accepts without doubt: a local part
    of letters and digits joined by single `.`, `_`, `+` or `-`, and a domain of two or more plain labels
    (no `--`, so no Punycode) under a letters-only top-level domain that is not a special-use name.
    Anything else gets the full check; this only spares the common case its cost (about half of a
    sale's validation)."""
    if len(value) > 254:
        return False
    match = _PLAIN_EMAIL.match(value)
    if match is None or len(match["local"]) > 64:
        return False
    domain = match["domain"].lower()
    if len(domain) > 253 or "--" in domain:
        return False
    return not any(domain == name or domain.endswith("." + name) for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)


def _email(value: str) -> str:
    """Check the syntax of the address in its one compared form (`normalise_email`: NFC, lower case),
    which is what is kept: the dataset's addresses are all in it already, and a customer finds
    their purchases by the address of their account, which auth keeps in it too."""
    if not value.isprintable():
        _no_controls(value)
    value = normalise_email(value)
    if plain_email(value):
        return value
    try:
        validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return value


def millisecond_utc(value: datetime) -> datetime:
    """Dates are kept in UTC at millisecond precision, the resolution of a BSON date."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


_RFC3339: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
)


def _date_time_text(value: object) -> object:
    """A sale date arrives as RFC 3339 text with a time zone (a date a document or the database
    holds is a `datetime` already). Numbers and numeric strings are refused, not read as epoch
    seconds."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _RFC3339.match(value):
        return value
    raise ValueError("must be an RFC 3339 date-time string with a time zone, such as 2015-03-23T21:06:49.506Z")


def _sale_date(value: datetime) -> datetime:
    """Within the sale date range, in UTC at millisecond precision. The local year is checked first:
    near the ends of the calendar, converting to UTC would overflow."""
    if not EARLIEST_SALE_DATE.year - 1 <= value.year <= LATEST_SALE_DATE.year or not (
        EARLIEST_SALE_DATE <= value < LATEST_SALE_DATE
    ):
        raise ValueError(f"must be from {EARLIEST_SALE_DATE:%Y-%m-%d} to before {LATEST_SALE_DATE:%Y-%m-%d} (UTC)")
    return millisecond_utc(value)


_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""C0 and C1 control characters (NUL, tab, line breaks, escape...) and lone surrogates, which no text of
a sale holds."""


def _no_controls(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _plain_text(value: str) -> str:
    """Text as a person reads it: no control characters, not blank, no leading or trailing whitespace
    (" office" would be another tag than "office" to every query)."""
    if value.isprintable() and value and not value[0].isspace() and not value[-1].isspace():
        return value  # the common case, decided in C (`isprintable` refuses every control character)
    _no_controls(value)
    if value.strip() != value:
        raise ValueError("must not be blank" if not value.strip() else "must not start or end with whitespace")
    return value


_PLAIN_DECIMAL: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?\Z")


def _exact_price(value: object, info: ValidationInfo) -> object:
    """A price is exact: a plain decimal string ("12.5", "40"; no spaces, underscores, signs other than
    a leading minus, or exponent), an integer or a Decimal. A JSON number is exact only as its text:
    where the number reaches validation as a binary float (JSON validated from bytes) it is refused,
    and the HTTP route, which parses numbers as decimals, decides (so `1.0000000000000000001` is refused
    as a number as it is as a string, never rounded to 1)."""
    if isinstance(value, bool):
        raise ValueError("must be a decimal number, not true or false")
    if isinstance(value, str):
        if not _PLAIN_DECIMAL.match(value):
            raise ValueError('must be a plain decimal such as "12.50" (digits and one optional point)')
    elif isinstance(value, float) and info.mode == "json":
        raise ValueError("must be an exact decimal (this JSON number was read as a binary float)")
    return value


# The lengths come before the Python check so that pydantic-core applies them itself.
Name = Annotated[StrictStr, StringConstraints(min_length=1, max_length=100), AfterValidator(_plain_text)]
Tag = Annotated[StrictStr, StringConstraints(min_length=1, max_length=50), AfterValidator(_plain_text)]
Gender = Annotated[StrictStr, StringConstraints(min_length=1, max_length=16), AfterValidator(_plain_text)]
Email = Annotated[StrictStr, StringConstraints(max_length=254), AfterValidator(_email)]
SaleDate = Annotated[AwareDatetime, BeforeValidator(_date_time_text), AfterValidator(_sale_date)]
Price = Annotated[
    Decimal,
    Field(
        ge=0,
        le=MAX_PRICE,
        decimal_places=2,
        description="Unit price, at most 2 decimals and at most 1,000,000.",
        examples=["40.01"],
    ),
    BeforeValidator(_exact_price),  # outermost: sees the input first
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class Item(_Model):
    name: Name = Field(description="What was sold.")
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    price: Price
    quantity: StrictInt = Field(ge=1, le=MAX_QUANTITY)


class Customer(_Model):
    gender: Gender = Field(examples=["F"])
    age: StrictInt = Field(ge=0, le=120)
    email: Email = Field(
        examples=["cauho@witwuta.sv"], description="Kept in Unicode NFC and lower case, as account addresses are."
    )
    satisfaction: StrictInt = Field(ge=1, le=5, description="1 (worst) to 5 (best).")


class SaleBody(_Model):
    """A sale as a client sends it: the dataset document without `_id`."""

    saleDate: SaleDate = Field(
        description=(
            "RFC 3339 with a time zone, from 1900-01-01 to before 2200-01-01 (UTC); kept in UTC to the millisecond."
        )
    )
    items: list[Item] = Field(
        min_length=1, max_length=MAX_ITEMS, description="The lines; their total is at most 100,000,000."
    )
    storeLocation: StoreLocation
    customer: Customer
    couponUsed: StrictBool
    purchaseMethod: PurchaseMethod

    @field_validator("items")
    @classmethod
    def _total_in_range(cls, items: list[Item]) -> list[Item]:
        if sale_total(items) > MAX_SALE_TOTAL:
            raise ValueError(f"the sale's total (price x quantity over the lines) must be at most {MAX_SALE_TOTAL:,}")
        return items


class Sale(SaleBody):
    """A whole dataset document, `_id` included."""

    id: ObjectIdStr = Field(alias="_id")

    def body(self) -> SaleBody:
        return SaleBody.model_validate(self.model_dump(exclude={"id"}))


class EventItem(Item):
    """Event payloads ignore fields they do not know (additive changes within a schema version)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class EventCustomer(Customer):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EventSale(Sale):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    items: list[EventItem] = Field(min_length=1, max_length=MAX_ITEMS)  # type: ignore[assignment]
    customer: EventCustomer

    @classmethod
    def of(cls, sale: Sale) -> EventSale:
        """The same sale as event data, without validating it again: a `Sale` passed every rule an
        `EventSale` has (and refused unknown fields, which event data only ignores)."""
        return cls.model_construct(
            _fields_set=sale.model_fields_set,
            **{
                **sale.__dict__,
                "items": [EventItem.model_construct(_fields_set=i.model_fields_set, **i.__dict__) for i in sale.items],
                "customer": EventCustomer.model_construct(
                    _fields_set=sale.customer.model_fields_set, **sale.customer.__dict__
                ),
            },
        )


def sale_total(items: list[Item]) -> Decimal:
    """Sum of price x quantity over the lines, exact."""
    return sum((item.price * item.quantity for item in items), Decimal(0))
