"""The connection holder every storage mixin builds on: locking, transactions, query helpers.

aiosqlite gives one connection, and a SQLite connection has one transaction at a time, so
every coroutine shares it. An ``asyncio.Lock`` therefore guards every statement: while one
task holds a transaction, another task's write cannot slip into it (and be rolled back with
it), and its reads cannot see half-done work. The task that holds the lock may nest
``transaction()`` blocks and call any public method inside them; nested blocks are savepoints.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from sqlite3 import Row

import aiosqlite

from storage.errors import StorageError

logger = logging.getLogger(__name__)

Params = Sequence[object]
IN_CHUNK = 500  # ids per IN (...) list, well below SQLite's bound-variable limit


class StorageCore:
    """Hold the connection and serialise access to it."""

    def __init__(self, conn: aiosqlite.Connection, path: str | Path) -> None:
        self._conn = conn
        self._path = str(path)
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._depth = 0  # how many transaction() blocks the owner has open
        self._closed = False

    @property
    def path(self) -> str:
        """Return the database file this storage uses."""
        return self._path

    async def close(self) -> None:
        """Wait for running work, then close the connection; closing twice is harmless."""
        if self._closed:
            return
        async with self._exclusive():
            self._closed = True
            await self._conn.close()

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """Hold the lock, unless the current task already holds it."""
        if self._closed:
            raise StorageError(f"storage {self._path} is closed")
        task = asyncio.current_task()
        if task is not None and task is self._owner:
            yield
            return
        async with self._lock:
            if self._closed:  # closed while we waited
                raise StorageError(f"storage {self._path} is closed")
            self._owner = task
            try:
                yield
            finally:
                self._owner = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run the block atomically: commit when it ends, roll back if it raises.

        A block nested inside another one of the same task becomes a savepoint, so its
        failure undoes only its own writes (if the outer block catches the error).
        Tasks started inside the block (e.g. by ``asyncio.gather``) are other tasks: they
        wait for the block to end, so do not await them inside it.

        Raises:
            StorageError: the storage is closed.
        """
        async with self._exclusive():
            rollback: tuple[str, ...]
            if self._depth == 0:
                if self._conn.in_transaction:
                    # Only a rollback interrupted by a second cancellation leaves one open.
                    logger.warning("rolling back a transaction left open in %s", self._path)
                    await self._conn.execute("ROLLBACK")
                begin, commit, rollback = "BEGIN IMMEDIATE", "COMMIT", ("ROLLBACK",)
            else:
                name = f"nested_{self._depth}"
                begin, commit = f"SAVEPOINT {name}", f"RELEASE {name}"
                rollback = (f"ROLLBACK TO {name}", f"RELEASE {name}")
            await self._conn.execute(begin)
            self._depth += 1
            try:
                yield
                await self._conn.execute(commit)
            except BaseException:
                await self._undo(rollback)
                raise
            finally:
                self._depth -= 1

    async def _undo(self, statements: Iterable[str]) -> None:
        """Roll back, without hiding the error that made us roll back."""
        try:
            for statement in statements:
                await self._conn.execute(statement)
        except Exception:
            logger.exception("rollback failed in %s", self._path)

    async def _fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query and return every row."""
        async with self._exclusive():
            return list(await self._conn.execute_fetchall(sql, params))

    async def _fetch_in(self, sql: str, ids: Sequence[object], before: Params = ()) -> list[Row]:
        """Run a query whose ``{ids}`` stands for an IN list, in chunks; return every row."""
        rows: list[Row] = []
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            placeholders = ", ".join("?" * len(chunk))
            rows += await self._fetchall(sql.format(ids=placeholders), [*before, *chunk])
        return rows

    async def _write_in(self, sql: str, ids: Sequence[object], before: Params = ()) -> int:
        """Run a write whose ``{ids}`` stands for an IN list; return the rows changed.

        Up to IN_CHUNK ids it is one statement, atomic on its own (one round trip instead of
        three); more ids are written in chunks inside one transaction.
        """
        if len(ids) <= IN_CHUNK:
            return await self._execute(sql.format(ids=", ".join("?" * len(ids))), [*before, *ids])
        changed = 0
        async with self.transaction():
            for start in range(0, len(ids), IN_CHUNK):
                chunk = ids[start : start + IN_CHUNK]
                placeholders = ", ".join("?" * len(chunk))
                changed += await self._execute(sql.format(ids=placeholders), [*before, *chunk])
        return changed

    async def _fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a query and return its first row, if any."""
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    async def _fetchvalue(self, sql: str, params: Params = ()) -> object:
        """Run a query and return the first column of its first row (``None`` if no row)."""
        row = await self._fetchone(sql, params)
        return None if row is None else row[0]

    async def _count(self, sql: str, params: Params = ()) -> int:
        """Run a ``SELECT COUNT(*)``-style query and return the number."""
        value = await self._fetchvalue(sql, params)
        return value if isinstance(value, int) else 0

    # Write cursors are not closed explicitly: closing is one more round trip to aiosqlite's
    # thread, and a sqlite3 cursor without pending rows holds nothing once garbage-collected.
    async def _execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement and return how many rows it changed."""
        async with self._exclusive():
            cursor = await self._conn.execute(sql, params)
            return cursor.rowcount

    async def _insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT and return the new row's id."""
        async with self._exclusive():
            cursor = await self._conn.execute(sql, params)
            row_id = cursor.lastrowid
        if row_id is None:  # pragma: no cover - SQLite always sets it after an INSERT
            raise StorageError(f"no row id after insert in {self._path}")
        return row_id

    async def _executemany(self, sql: str, rows: Iterable[Params]) -> int:
        """Run one write statement for many parameter rows and return the rows changed."""
        async with self._exclusive():
            cursor = await self._conn.executemany(sql, rows)
            return cursor.rowcount
