"""What the `auth` revisions build every table with.

Revisions that have run import these, so a value here is never changed: a new convention gets a new
name beside the old one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.mysql import DATETIME

TS = DATETIME(fsp=6)
"""A moment in UTC, to the microsecond, stored without a zone."""

TABLE_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}
