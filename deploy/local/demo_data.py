"""Write the demo data set that `make run` imports on its first start: 5,000 generated sales in the
public dataset's shape and spread (`supply_common.testing.dataset`), the same on every machine.

    .venv/bin/python deploy/local/demo_data.py FILE
"""

from __future__ import annotations

import sys
from pathlib import Path

from supply_common.testing.dataset import DEMO_COUNT, DEMO_SEED, write_file


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = write_file(Path(sys.argv[1]), DEMO_COUNT, DEMO_SEED)
    print(f"{DEMO_COUNT:,} generated sales (seed {DEMO_SEED}) in {path}")


if __name__ == "__main__":
    main()
