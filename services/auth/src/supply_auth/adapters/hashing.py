"""Argon2id password hashing through passlib (the maintained `libpass` distribution)."""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass

from passlib.context import CryptContext


@dataclass(frozen=True)
class Argon2Parameters:
    memory_kib: int
    time_cost: int
    parallelism: int


class PasswordHasher:
    """Hashes and verifies with argon2id; says when a stored hash was made with other parameters.

    Each hash holds `memory_kib` of RAM for its duration, so concurrent hashes are bounded.
    """

    def __init__(self, parameters: Argon2Parameters, max_concurrent: int = 0) -> None:
        self.parameters = parameters
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=parameters.memory_kib,
            argon2__rounds=parameters.time_cost,
            argon2__parallelism=parameters.parallelism,
        )
        self._slots = threading.BoundedSemaphore(max_concurrent or 2 * (os.cpu_count() or 1))
        self._dummy = self.hash(secrets.token_urlsafe(24))

    def hash(self, password: str) -> str:
        with self._slots:
            return self._context.hash(password)

    def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """(matches, replacement hash or None). With no stored hash, verifies against a dummy so
        that an unknown account costs the same time as a wrong password."""
        with self._slots:
            if stored is None:
                self._context.verify(password, self._dummy)
                return False, None
            try:
                return self._context.verify_and_update(password, stored)
            except ValueError:
                self._context.verify(password, self._dummy)
                return False, None
