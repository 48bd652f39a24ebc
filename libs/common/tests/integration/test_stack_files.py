"""The local stack's data, logs and secrets are readable by their owner only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from supply_common.testing.fixtures import not_here
from supply_common.testing.stack import repo_root

pytestmark = pytest.mark.integration


def state_folder() -> Path:
    return Path(os.environ.get("STACK_DIR") or repo_root() / ".stack").resolve()


def test_nothing_under_the_state_folder_is_open_to_others() -> None:
    root = state_folder()
    if not (root / "run").is_dir():
        not_here(f"no local stack in {root} (the servers come from elsewhere)")
    postgres = root / "postgres"  # run as its own user when the stack runs as root: left to PostgreSQL
    open_to_others = []
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        subdirs[:] = [name for name in subdirs if here / name != postgres]
        for path in (*(here / name for name in subdirs), *(here / name for name in files)):
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:  # a server removed it meanwhile
                continue
            # A socket (MariaDB's, mode 777) is reached only through its folder, which is private.
            if not (stat.S_ISLNK(mode) or stat.S_ISSOCK(mode)) and stat.S_IMODE(mode) & 0o077:
                open_to_others.append(f"{stat.S_IMODE(mode):o} {path.relative_to(root)}")
    assert open_to_others == []
    assert stat.S_IMODE(root.stat().st_mode) & 0o066 == 0  # others may at most pass through (PostgreSQL)
