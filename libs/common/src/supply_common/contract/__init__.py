"""The contract between the services: the sale shape, its codec and hash, and the event envelope."""

from supply_common.contract.codec import (
    METADATA_FIELD,
    canonical,
    decimal_text,
    document_hash,
    from_document,
    from_extended_json,
    rfc3339,
    sale_hash,
    to_document,
)
from supply_common.contract.envelope import SCHEMA_VERSION, Actor, EventType, SaleEvent, encode_change
from supply_common.contract.sale import (
    ITEM_CATALOGUE,
    PURCHASE_METHODS,
    SALE_FILTERS,
    STORES,
    Customer,
    EventSale,
    Item,
    Sale,
    SaleBody,
    sale_total,
)

__all__ = [
    "ITEM_CATALOGUE",
    "METADATA_FIELD",
    "PURCHASE_METHODS",
    "SALE_FILTERS",
    "SCHEMA_VERSION",
    "STORES",
    "Actor",
    "Customer",
    "EventSale",
    "EventType",
    "Item",
    "Sale",
    "SaleBody",
    "SaleEvent",
    "canonical",
    "decimal_text",
    "document_hash",
    "encode_change",
    "from_document",
    "from_extended_json",
    "rfc3339",
    "sale_hash",
    "sale_total",
    "to_document",
]
