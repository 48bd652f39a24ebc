"""Argon2id password hashing through passlib (the maintained `libpass` distribution)."""

from __future__ import annotations

import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from passlib.context import CryptContext


@dataclass(frozen=True)
class Argon2Parameters:
    memory_kib: int
    time_cost: int
    parallelism: int


class PasswordHasher:
    """Hashes and verifies with argon2id; says when a stored hash was made with other parameters.

    Each hash holds `memory_kib` of RAM while it runs, so hashes run on a pool of `max_concurrent`
    threads of their own (0: one per CPU, which keeps every core busy; more only wait for a core and
    add memory). Callers wait for their turn. The pool also bounds memory between hashes: glibc keeps
    a freed hash buffer resident in the malloc arena of the thread that used it, and reuses it for
    that thread's next hash. Run on the request threads, every arena those threads touch ends up
    holding one (glibc allows 8 arenas per core); run here, at most `max_concurrent` do."""

    def __init__(self, parameters: Argon2Parameters, max_concurrent: int = 0) -> None:
        self.parameters = parameters
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=parameters.memory_kib,
            argon2__rounds=parameters.time_cost,
            argon2__parallelism=parameters.parallelism,
        )
        self.max_concurrent = max_concurrent or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self.max_concurrent, thread_name_prefix="argon2")
        self._dummy = self.hash(secrets.token_urlsafe(24))

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    def hash(self, password: str) -> str:
        return self._pool.submit(self._context.hash, password).result()

    def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """(matches, replacement hash or None). With no stored hash, verifies against a dummy so
        that an unknown account costs the same time as a wrong password."""
        return self._pool.submit(self._verify, password, stored).result()

    def _verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        if stored is None:
            self._context.verify(password, self._dummy)
            return False, None
        try:
            return self._context.verify_and_update(password, stored)
        except ValueError:
            self._context.verify(password, self._dummy)
            return False, None
