"""The one exception the storage layer raises for a database it cannot use."""

from __future__ import annotations


class StorageError(Exception):
    """The database file is unusable: unreadable, corrupt, too new, or already closed."""
