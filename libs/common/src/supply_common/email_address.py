"""The one form of an e-mail address that every service compares: a sale's `customer.email` and the
address in a customer's token name the same person only if both are in it."""

from __future__ import annotations

import unicodedata


def normalise_email(address: str) -> str:
    """Unicode NFC, then lower case: `RV.Someone@Example.com` -> `rv.someone@example.com`. The same
    rule auth applies to account addresses (after trimming what was typed), so the address in a
    customer's access token matches the sales recorded for them."""
    return unicodedata.normalize("NFC", address).lower()
