"""The durable embedded backend: an SQLite database in WAL mode under the state directory.

The changes of one turn of the event loop are one transaction, committed before any of
their clients is answered. With `synchronous=FULL` (the default) a commit survives power
loss; `NORMAL` survives a crash of the daemon but may lose the last commits on power loss,
for about ten times the write rate.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path

from cosid.state.codec import resource_from_bytes, resource_to_bytes
from cosid.state.resource import Pointer, Resource

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    namespace TEXT NOT NULL,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    resource BLOB NOT NULL,
    PRIMARY KEY (namespace, type, id)
) WITHOUT ROWID;
"""


_PUT = "INSERT OR REPLACE INTO resources (namespace, type, id, resource) VALUES (?, ?, ?, ?)"


_DELETE = "DELETE FROM resources WHERE namespace = ? AND type = ? AND id = ?"


def _key(pointer: Pointer) -> tuple[str, str, str]:
    return pointer.namespace, pointer.type, pointer.id


def _row(resource: Resource) -> tuple[str, str, str, bytes]:
    return (*_key(resource.pointer), resource_to_bytes(resource))


class Synchronous(StrEnum):
    FULL = "full"
    NORMAL = "normal"


class SqliteJournal:
    def __init__(self, path: Path, synchronous: Synchronous = Synchronous.FULL) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.value.upper()}")
        self._db.executescript(SCHEMA)

    def load(self) -> Iterator[Resource]:
        for (blob,) in self._db.execute("SELECT resource FROM resources"):
            yield resource_from_bytes(blob)

    def write(self, puts: Sequence[Resource], deletes: Sequence[Pointer]) -> None:
        if not puts and not deletes:
            return
        self._db.execute("BEGIN")
        try:
            self._db.executemany(_PUT, [_row(resource) for resource in puts])
            self._db.executemany(_DELETE, [_key(pointer) for pointer in deletes])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
