"""The common-password list shipped with zxcvbn (30,000 most frequent leaked passwords)."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path


@cache
def common_passwords() -> frozenset[str]:
    """Read from zxcvbn's `frequency_lists.py` alone: importing it through the package also builds
    zxcvbn's ranked dictionaries of every list, which would stay resident (about 10 MB) unused."""
    package = importlib.util.find_spec("zxcvbn")
    if package is None or package.origin is None:
        raise ModuleNotFoundError("zxcvbn is not installed")
    path = Path(package.origin).with_name("frequency_lists.py")
    spec = importlib.util.spec_from_file_location("_zxcvbn_frequency_lists", path)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return frozenset(word.casefold() for word in module.FREQUENCY_LISTS["passwords"])
