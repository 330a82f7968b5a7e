"""Open the database: pragmas, schema migrations, and the ``Storage`` class itself."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from storage.bans import BansMixin
from storage.broadcasts import BroadcastsMixin
from storage.budget import BudgetMixin
from storage.carrier_stats import CarrierStatsMixin
from storage.chats import ChatsMixin
from storage.detection import DetectionMixin
from storage.errors import StorageError
from storage.lookups import LookupsMixin
from storage.parcels import ParcelsMixin
from storage.schema import MIGRATIONS
from storage.subscriptions import SubscriptionsMixin
from storage.switches import SwitchesMixin

logger = logging.getLogger(__name__)

_PRAGMAS = (
    "PRAGMA journal_mode = WAL",  # readers (backups, sqlite3 shell) do not block the bot
    "PRAGMA foreign_keys = ON",  # ON DELETE CASCADE does the clean-up
    "PRAGMA busy_timeout = 5000",  # wait for another process's write instead of failing
    "PRAGMA synchronous = NORMAL",  # safe with WAL; a crash loses at most the last commits
)


# RETURNING (3.35; 3.35.5 fixed its last known defects) in the writes that return their row,
# NULLS FIRST (3.30) in the poll order.
MIN_SQLITE = (3, 35, 5)


class Storage(
    ChatsMixin,
    SubscriptionsMixin,
    ParcelsMixin,
    LookupsMixin,
    DetectionMixin,
    BudgetMixin,
    BroadcastsMixin,
    CarrierStatsMixin,
    SwitchesMixin,
    BansMixin,
):
    """Everything the bot keeps, behind plain async methods (one SQLite connection)."""


async def schema_version(conn: aiosqlite.Connection) -> int:
    """Return how many migrations the database has applied."""
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def apply_migrations(
    conn: aiosqlite.Connection, migrations: Sequence[str] = MIGRATIONS, *, name: str = "database"
) -> int:
    """Apply the migrations the database lacks, each in its own transaction.

    Args:
        conn: a connection in autocommit mode (``isolation_level=None``).
        migrations: the ordered migration scripts.
        name: how to call the database in error messages (usually its path).

    Returns:
        The schema version now in the database.

    Raises:
        StorageError: the database is newer than the code, or a migration failed
            (that migration is rolled back; earlier ones stay).
    """
    version = await schema_version(conn)
    if version > len(migrations):
        raise StorageError(
            f"database {name} has schema version {version}, newer than this code knows "
            f"({len(migrations)}); upgrade the bot"
        )
    for number, script in enumerate(migrations[version:], start=version + 1):
        # executescript() commits any open transaction first, so the script carries its own;
        # user_version is part of the database, so it commits together with the tables.
        try:
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\n;\nPRAGMA user_version = {int(number)};\nCOMMIT;"
            )
        except sqlite3.Error as err:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise StorageError(f"cannot apply migration {number} to {name}: {err}") from err
        logger.info("applied schema migration %d to %s", number, name)
    return len(migrations)


def _probe(location: str) -> None:
    """Read the file's header once, synchronously.

    When aiosqlite.connect() itself fails, its worker thread outlives the call and may
    report to a closed event loop; probing first turns the usual failures (a directory,
    no permission, not a database) into plain exceptions here instead.
    """
    conn = sqlite3.connect(location)
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    finally:
        conn.close()


async def open_storage(path: str | Path) -> Storage:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date.

    Args:
        path: the database file; missing parent folders are created. ``":memory:"`` works
            for throwaway databases.

    Raises:
        StorageError: SQLite is older than MIN_SQLITE, the file cannot be opened, is not a
            database, is newer than the code, or cannot be migrated.
    """
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise StorageError(
            f"SQLite {sqlite3.sqlite_version} is too old: {'.'.join(map(str, MIN_SQLITE))} or "
            "newer is needed (a newer Python build bundles one)"
        )
    location = str(path)
    if location != ":memory:":
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create the folder for database {location}: {err}") from err
    try:
        if location != ":memory:":
            await asyncio.to_thread(_probe, location)
        # isolation_level=None: no implicit BEGINs; transaction() issues its own.
        conn = await aiosqlite.connect(location, isolation_level=None)
    except sqlite3.Error as err:
        raise StorageError(f"cannot open database {location}: {err}") from err
    try:
        conn.row_factory = aiosqlite.Row
        for pragma in _PRAGMAS:
            await conn.execute(pragma)
        version = await apply_migrations(conn, name=location)
    except BaseException as err:
        await conn.close()
        if isinstance(err, sqlite3.Error):
            raise StorageError(f"cannot use database {location}: {err}") from err
        raise
    logger.info("opened database %s at schema version %d", location, version)
    return Storage(conn, location)
