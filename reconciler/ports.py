"""The ports: what the use cases need from a source of people and from a target of users.
Imports only the standard library and the pure core; adapters implement these, nothing inherits.

A new HR system is a package under ``reconciler/sources/`` whose client satisfies ``Source``;
a new SCIM app is a ``TargetProfile`` under ``reconciler/targets/`` (see docs/architecture.md).
Every method sends requests and raises ``reconciler.errors.ApiError`` (or ``SourceDataError``)
for what it cannot do; none prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from reconciler.core.model import AttributeInfo, Change, SourceSnapshot, TargetUser, WriteResult

#: ``progress(done, total)``: called after each page read or change written.
PageProgress = Callable[[int, int], None]


class Source(Protocol):
    """The system of record: its attribute catalogue and a snapshot of everyone in it."""

    @property
    def request_count(self) -> int:
        """Every HTTP request sent so far, authentication and retries included."""
        ...

    def fetch_attributes(self) -> tuple[AttributeInfo, ...]:
        """The attribute catalogue, as far as the credential may read it."""
        ...

    def fetch_employees(self, progress: PageProgress | None = None) -> SourceSnapshot:
        """Every person, parsed; records that cannot be parsed become problems, not crashes."""
        ...

    def close(self) -> None: ...


class TargetReader(Protocol):
    """The read side of the target. It has no write methods: a dry run cannot write."""

    @property
    def request_count(self) -> int: ...

    def fetch_users(self, progress: PageProgress | None = None) -> tuple[TargetUser, ...]:
        """Every user of the target, deactivated ones included, sorted by target id."""
        ...

    def close(self) -> None: ...


class TargetWriter(Protocol):
    """The write side of the target; only ``apply`` builds one.

    Both methods send one logical request (retrying what is safe to retry) and raise
    ``ApiError`` for anything that still fails. ``manager_target_id`` is the target id the
    change's ``manager`` field resolves to, or ``None``. Each verifies its write: what the
    target answered as done but did not store is ``WriteResult.not_stored`` (at most one
    read-back ``GET`` per write; docs/decisions.md, "2026-12-03: apply verifies its own writes").
    """

    def create(self, change: Change, manager_target_id: str | None) -> WriteResult: ...

    def patch(self, change: Change, manager_target_id: str | None) -> WriteResult: ...
