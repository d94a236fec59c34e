"""The durable embedded backend: an SQLite database in WAL mode under the state directory.

Each change (or batch of changes) is its own transaction, committed before the client is
answered. With `synchronous=FULL` (the default) a commit survives power loss; `NORMAL`
survives a crash of the daemon but may lose the last commits on power loss, for about ten
times the write rate.
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


def _row(resource: Resource) -> tuple[str, str, str, bytes]:
    key = resource.pointer
    return key.namespace, key.type, key.id, resource_to_bytes(resource)


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

    def put(self, resource: Resource) -> None:
        self._db.execute(_PUT, _row(resource))

    def put_all(self, resources: Sequence[Resource]) -> None:
        if not resources:
            return
        self._db.execute("BEGIN")
        try:
            self._db.executemany(_PUT, [_row(resource) for resource in resources])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def delete(self, pointer: Pointer) -> None:
        self._db.execute(
            "DELETE FROM resources WHERE namespace = ? AND type = ? AND id = ?",
            (pointer.namespace, pointer.type, pointer.id),
        )

    def close(self) -> None:
        self._db.close()
