"""Opening databases: pragmas, migrations, and refusing files storage cannot use."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiosqlite
import pytest

from storage import (
    MIGRATIONS,
    Storage,
    StorageError,
    apply_migrations,
    open_storage,
    schema_version,
)
from tests.storage.helpers import T0, follow

TABLES = {
    "chats",
    "parcels",
    "subscriptions",
    "events",
    "outbox",
    "detect_cache",
    "carrier_picks",
    "budget",
    "broadcasts",
    "broadcast_recipients",
    "carrier_calls",
}


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def table_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def test_there_are_at_least_two_migrations() -> None:
    assert len(MIGRATIONS) >= 2


async def test_new_database_gets_every_migration(db_path: Path) -> None:
    storage = await open_storage(db_path)
    await storage.close()
    assert user_version(db_path) == len(MIGRATIONS)
    assert table_names(db_path) >= TABLES


async def test_connection_pragmas(store: Storage) -> None:
    conn = store._conn
    expected = {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": 1}
    for pragma, value in expected.items():
        async with conn.execute(f"PRAGMA {pragma}") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        assert row[0] == value, pragma


async def test_missing_parent_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "bot.sqlite3"
    storage = await open_storage(str(path))
    await storage.close()
    assert path.is_file()
    assert storage.path == str(path)


async def test_reopening_keeps_data_and_version(db_path: Path) -> None:
    storage = await open_storage(db_path)
    await storage.upsert_chat(7, "private", "en")
    await storage.close()
    storage = await open_storage(db_path)
    try:
        chat = await storage.get_chat(7)
        assert chat is not None
        assert chat.language == "en"
    finally:
        await storage.close()
    assert user_version(db_path) == len(MIGRATIONS)


async def test_memory_database_works() -> None:
    storage = await open_storage(":memory:")
    try:
        assert (await storage.upsert_chat(1, "group", None)).type == "group"
    finally:
        await storage.close()


def assert_one_line_naming(err: pytest.ExceptionInfo[StorageError], path: Path) -> None:
    message = str(err.value)
    assert str(path) in message
    assert "\n" not in message


async def test_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    path.write_text("this is not a database, just some notes\n" * 50, encoding="utf-8")
    with pytest.raises(StorageError, match="not a database") as err:
        await open_storage(path)
    assert_one_line_naming(err, path)
    assert path.read_text(encoding="utf-8").startswith("this is not a database")


async def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as err:
        await open_storage(tmp_path)
    assert_one_line_naming(err, tmp_path)


async def test_parent_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x", encoding="utf-8")
    path = tmp_path / "plain" / "bot.sqlite3"
    with pytest.raises(StorageError) as err:
        await open_storage(path)
    assert_one_line_naming(err, path)


async def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE chats (something TEXT)")
    with pytest.raises(StorageError, match="migration 1") as err:
        await open_storage(path)
    assert_one_line_naming(err, path)
    assert user_version(path) == 0


async def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StorageError, match=re.escape(f"schema version {len(MIGRATIONS) + 1}")):
        await open_storage(path)
    assert user_version(path) == len(MIGRATIONS) + 1


async def test_version_one_database_upgrades_with_data_intact(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        assert await apply_migrations(conn, MIGRATIONS[:1]) == 1
        created = T0.isoformat(timespec="microseconds")
        await conn.execute(
            "INSERT INTO chats (id, type, language, created_at) VALUES (?, ?, ?, ?)",
            (42, "private", "ru", created),
        )
        await conn.execute(
            "INSERT INTO parcels (id, carrier, number, status, created_at) VALUES (?, ?, ?, ?, ?)",
            (5, "ukrposhta", "RR123456789UA", "delivered", created),
        )
        await conn.execute(
            "INSERT INTO subscriptions (chat_id, parcel_id, label, created_at) "
            "VALUES (?, ?, ?, ?)",
            (42, 5, "boots", created),
        )
    assert user_version(db_path) == 1
    assert "broadcasts" not in table_names(db_path)

    storage = await open_storage(db_path)
    try:
        assert user_version(db_path) == len(MIGRATIONS)
        chat = await storage.get_chat(42)
        assert chat is not None
        assert (chat.language, chat.created_at) == ("ru", T0)
        [view] = await storage.list_subscriptions(42)
        assert (view.label, view.parcel.number, view.parcel.status) == (
            "boots",
            "RR123456789UA",
            "delivered",
        )
        # The tables of later migrations work.
        broadcast = await storage.create_broadcast(1, "hello", "all", [42])
        assert (await storage.broadcast_counts(broadcast.id)).pending == 1
        await storage.record_carrier_call("ukrposhta", T0, True, 12.0)
    finally:
        await storage.close()


async def test_parcels_waiting_at_the_upgrade_count_as_reminded(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        await apply_migrations(conn, MIGRATIONS[:4])
        created = T0.isoformat(timespec="microseconds")
        for parcel_id, status in ((1, "ready_for_pickup"), (2, "in_transit")):
            await conn.execute(
                "INSERT INTO parcels (id, carrier, number, status, last_event_at, created_at) "
                "VALUES (?, 'inpost', ?, ?, ?, ?)",
                (parcel_id, f"N{parcel_id}", status, created, created),
            )
    storage = await open_storage(db_path)
    try:
        waiting, moving = await storage.get_parcel(1), await storage.get_parcel(2)
        assert waiting is not None
        assert moving is not None
        assert waiting.pickup_reminded_at is not None  # no burst of reminders after deploying
        assert waiting.pickup_reminded_at > T0
        assert moving.pickup_reminded_at is None
    finally:
        await storage.close()


async def test_failed_migration_is_rolled_back(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    broken = "CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1);"
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        with pytest.raises(StorageError, match="migration 2"):
            await apply_migrations(conn, [MIGRATIONS[0], broken], name=str(db_path))
        assert await schema_version(conn) == 1
        assert not conn.in_transaction
    assert "half_done" not in table_names(db_path)
    assert "chats" in table_names(db_path)


async def test_closed_storage_refuses_work(db_path: Path) -> None:
    storage = await open_storage(db_path)
    await storage.close()
    await storage.close()  # closing twice is harmless
    with pytest.raises(StorageError, match="closed"):
        await storage.get_chat(1)
    with pytest.raises(StorageError, match="closed"):
        async with storage.transaction():
            pass


async def test_naive_datetimes_are_refused(store: Storage) -> None:
    naive = datetime.now(UTC).replace(tzinfo=None)
    with pytest.raises(ValueError, match="naive"):
        await store.due_parcels(naive, 10)


async def test_times_come_back_as_utc(store: Storage) -> None:
    view = await follow(store, 1)
    kyiv_time = T0.astimezone(ZoneInfo("Europe/Kyiv"))
    await store.schedule_parcel(view.parcel_id, kyiv_time, 60.0)
    parcel = await store.get_parcel(view.parcel_id)
    assert parcel is not None
    assert parcel.next_check_at == T0
    assert parcel.next_check_at.tzinfo is UTC


async def test_too_old_sqlite_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(StorageError, match=r"SQLite 3\.31\.1 is too old: 3\.35\.5 or newer"):
        await open_storage(tmp_path / "bot.sqlite3")
    assert not (tmp_path / "bot.sqlite3").exists()


async def test_subscription_ids_are_never_given_twice(db_path: Path) -> None:
    # Ids are in buttons: a stopped parcel's old button must not name the next parcel added.
    db_path.parent.mkdir(parents=True)
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        await apply_migrations(conn, MIGRATIONS[:11])  # a database from before the high water
        created = T0.isoformat(timespec="microseconds")
        await conn.execute(
            "INSERT INTO chats (id, type, language, created_at) VALUES (1, 'private', 'en', ?)",
            (created,),
        )
        for parcel_id in (1, 2):
            await conn.execute(
                "INSERT INTO parcels (id, carrier, number, created_at) VALUES (?, 'inpost', ?, ?)",
                (parcel_id, f"N{parcel_id}", created),
            )
            await conn.execute(
                "INSERT INTO subscriptions (id, chat_id, parcel_id, created_at) "
                "VALUES (?, 1, ?, ?)",
                (parcel_id * 7, parcel_id, created),
            )
        await conn.execute("DELETE FROM subscriptions WHERE id = 14")  # the highest, freed
    storage = await open_storage(db_path)
    try:
        again = await follow(storage, 1, "N2")
        assert again.id > 14  # ids freed before the upgrade are left behind as well
        await storage.unsubscribe(again.id)
        third = await follow(storage, 1, "N3")
        assert third.id == again.id + 1
        same = await follow(storage, 1, "N3", label="renamed")  # following again keeps its id
        assert same.id == third.id
        empty = db_path.with_name("emptied.sqlite3")  # in use, every subscription deleted
        async with aiosqlite.connect(empty, isolation_level=None) as conn:
            await apply_migrations(conn, MIGRATIONS[:11])
            await conn.execute(
                "INSERT INTO chats (id, type, language, created_at) "
                "VALUES (1, 'private', 'en', ?)",
                (T0.isoformat(timespec="microseconds"),),
            )
        emptied = await open_storage(empty)
        try:
            assert (await follow(emptied, 1, "N1")).id > 1
        finally:
            await emptied.close()
        new = await open_storage(db_path.with_name("new.sqlite3"))  # a new database: from 1
        try:
            first = await follow(new, 1, "N1")
            await new.unsubscribe(first.id)
            assert (first.id, (await follow(new, 1, "N2")).id) == (1, 2)
        finally:
            await new.close()
    finally:
        await storage.close()
