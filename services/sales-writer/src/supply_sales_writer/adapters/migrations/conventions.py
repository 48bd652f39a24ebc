"""The column types the `sales` revisions share.

Revisions that have run import these, so a value here is never changed: a new type gets a new name
beside the old one.
"""

from sqlalchemy.dialects import mysql

SaleId = mysql.CHAR(24, charset="ascii", collation="ascii_bin")
"""An ObjectId in hex."""
Moment = mysql.DATETIME(fsp=3)
"""UTC, to the millisecond, stored without a zone."""
Hash = mysql.CHAR(64, charset="ascii", collation="ascii_bin")
"""A 256-bit digest in hex."""
