"""Typed dependencies for handlers: BotData (services) and BotContext (language helpers)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from telegram.ext import Application, CallbackContext, ExtBot

from bot.alerts import AdminAlerts
from bot.ban_memory import BanMemory
from bot.broadcast import BroadcastRunner
from bot.carriers.registry import CarrierRegistry
from bot.config import Settings
from bot.i18n import Catalogs, Translator
from bot.notifier import Notifier
from bot.parcels import ParcelService
from bot.poller import Poller
from bot.quota import StorageNewNumberBudget
from storage import Storage

LANGUAGE_KEY = "language"


class BotData:
    """Services shared by every handler; assigned in ``post_init``, closed in ``post_shutdown``."""

    settings: Settings
    catalogs: Catalogs
    storage: Storage
    session: aiohttp.ClientSession
    carriers: CarrierRegistry
    parcels: ParcelService
    notifier: Notifier
    budget: StorageNewNumberBudget
    broadcasts: BroadcastRunner
    poller: Poller
    alerts: AdminAlerts  # tells the admins of carrier trouble and failed updates
    decoding: asyncio.Semaphore  # pictures decoded at once (barcodes cost CPU)
    banned: set[int]  # user and chat ids an admin banned (the storage's list, in memory)
    ban_memory: dict[int, BanMemory]  # the guard's refusals and answers per banned id


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """Callback context with the chat's translator at hand."""

    @property
    def tr(self) -> Translator:
        """Return the translator for the current chat's language."""
        language = self.chat_data.get(LANGUAGE_KEY) if self.chat_data is not None else None
        return self.bot_data.catalogs.get(language)

    @property
    def chat_memory(self) -> dict[Any, Any]:
        """Return the chat's in-memory data (a throwaway dict for updates without a chat)."""
        return self.chat_data if self.chat_data is not None else {}

    @property
    def language(self) -> str:
        """Return the current chat's language code."""
        return self.tr.language


BotApplication = Application[
    ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], BotData, Any
]
