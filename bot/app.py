"""Composition root: build the Application, its services and its handlers."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, Defaults
from telegram.request import BaseRequest

from bot.alert_events import Alert, AlertKind
from bot.alerts import AdminAlerts
from bot.breaker import Breakers
from bot.broadcast import BroadcastRunner
from bot.carriers.registry import build_carriers
from bot.config import Settings
from bot.context import BotApplication, BotContext, BotData
from bot.correction import CarrierCorrection
from bot.handlers import build_handlers, on_error
from bot.handlers.admin import start_delivery
from bot.i18n import LANGUAGES, N_, Catalogs
from bot.lifecycle import ARCHIVE_DAYS, Lifecycle
from bot.logs import configure_logging
from bot.notifier import Notifier
from bot.parcels import ParcelService
from bot.poller import Poller
from bot.quota import StorageDetectCache, StorageNewNumberBudget, budget_day
from bot.schedule import Policy
from bot.tracking import TrackingService
from storage import StorageError, open_storage

logger = logging.getLogger(__name__)

OUTBOX_INTERVAL = 5.0  # seconds between outbox drains outside poll ticks
DECODING_AT_ONCE = 2  # pictures decoded at once: one per core, so chats keep their answers
TELEGRAM_FILES = "https://api.telegram.org/file/bot"

PRIVATE_COMMANDS = (
    ("track", N_("Follow a parcel")),
    ("list", N_("Parcels this chat follows")),
    ("archive", N_("Delivered and returned parcels")),
    ("stop", N_("Stop following a parcel")),
    ("stopall", N_("Stop following every parcel")),
    ("quiet", N_("Quiet hours for updates")),
    ("language", N_("Change the language")),
    ("privacy", N_("What I store")),
    ("forget", N_("Delete everything about this chat")),
    ("help", N_("How to use me")),
)
GROUP_COMMANDS = PRIVATE_COMMANDS
ADMIN_COMMANDS = (
    ("broadcast", N_("Announce something to every chat")),
    ("broadcast_cancel", N_("Stop the running broadcast")),
    ("stats", N_("Bot and carrier statistics")),
    ("raw", N_("A carrier's raw answers for a number")),
    ("ban", N_("Shut a user or chat out")),
    ("unban", N_("Lift a ban")),
    ("bans", N_("Who is banned")),
)


def file_url(api_base_url: str) -> str:
    """Return where files are downloaded from: ``…/bot`` becomes ``…/file/bot``.

    That is the Bot API's layout (and a local Bot API server's); ``…/bot{token}/test`` becomes
    ``…/file/bot{token}/test``; another base URL gets Telegram's own file URL.
    """
    base = api_base_url.rstrip("/")
    if "/bot{token}" in base:  # PTB's placeholder, e.g. Telegram's test environment
        return base.replace("/bot{token}", "/file/bot{token}", 1)
    return base.removesuffix("/bot") + "/file/bot" if base.endswith("/bot") else TELEGRAM_FILES


def build_application(
    settings: Settings,
    catalogs: Catalogs,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
) -> BotApplication:
    """Build the bot; services start in ``post_init`` and stop in ``post_shutdown``."""
    overall_rate = max(30.0, settings.broadcast_rate * 1.2)
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_url(settings.telegram_api_base_url))
        .context_types(ContextTypes(context=BotContext, bot_data=BotData))
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=None))
        # Telegram allows about 30 messages/s; a higher BROADCAST_RATE (paid broadcasts, or a
        # local Bot API server) lifts the overall cap with it.
        .rate_limiter(AIORateLimiter(overall_max_rate=overall_rate, max_retries=3))
        .post_init(start_services)
        .post_stop(remove_webhook)
        .post_shutdown(stop_services)
    )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application: BotApplication = builder.build()  # type: ignore[assignment]
    application.bot_data.settings = settings
    application.bot_data.catalogs = catalogs
    for group, handlers in build_handlers(settings.admin_ids).items():
        application.add_handlers(handlers, group=group)
    application.add_error_handler(on_error)
    return application


async def start_services(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Open storage and the HTTP session, build the carriers, publish the command menus."""
    data: BotData = application.bot_data
    settings = data.settings
    data.storage = await open_storage(settings.database_path)
    data.banned = {ban.id for ban in await data.storage.list_bans()}
    data.ban_memory = {}
    data.decoding = asyncio.Semaphore(DECODING_AT_ONCE)
    data.session = aiohttp.ClientSession()
    data.budget = StorageNewNumberBudget(data.storage)
    data.carriers = build_carriers(
        settings, data.session, budget=data.budget, detect_cache=StorageDetectCache(data.storage)
    )
    for name, variables in data.carriers.disabled.items():
        logger.warning("carrier %s is disabled: set %s to enable it", name, variables)
    # One breaker per carrier for the poller and users alike: while a carrier keeps failing,
    # a user's lookup shows what we know instead of waiting for another failure.
    breakers = Breakers(settings.check_interval_scale)
    data.parcels = ParcelService(
        data.storage,
        TrackingService(data.carriers, breakers),
        max_parcels_per_chat=settings.max_parcels_per_chat,
        policy=Policy(scale=settings.check_interval_scale),
    )
    data.notifier = Notifier(data.storage, application.bot, data.catalogs)
    alerts = AdminAlerts(
        application.bot,
        data.storage,
        data.catalogs,
        settings.admin_ids,
        settings.check_interval_scale,
    )

    telling: set[asyncio.Task[None]] = set()

    async def quota_used_up(until: datetime) -> None:
        # In the background: a user's /track must not wait while every admin is written to.
        task = asyncio.create_task(alerts(Alert("gdeposylka", AlertKind.QUOTA, until=until)))
        telling.add(task)
        task.add_done_callback(telling.discard)

    data.budget.on_exhausted = quota_used_up
    data.alerts = alerts
    data.poller = Poller(
        data.storage,
        data.parcels,
        dict(data.carriers.clients),
        data.notifier.drain,
        scale=settings.check_interval_scale,
        breakers=breakers,
        lifecycle=Lifecycle(data.storage, settings.check_interval_scale),
        correction=CarrierCorrection(data.parcels, settings.check_interval_scale),
        alert=alerts,
    )
    data.broadcasts = BroadcastRunner(
        data.storage, application.bot, data.catalogs, settings.broadcast_rate, banned=data.banned
    )
    await _publish_commands(application, data.catalogs, settings.admin_ids)
    _schedule_jobs(application, settings)
    for broadcast in await data.storage.running_broadcasts():
        logger.info("resuming broadcast %s", broadcast.id)
        start_delivery(application, broadcast.id)


def _schedule_jobs(
    application: Application[Any, Any, Any, Any, Any, Any], settings: Settings
) -> None:
    """Start the poll tick and the outbox sender (which also flushes rows left by a crash)."""
    job_queue = application.job_queue
    if job_queue is None:
        raise RuntimeError("the job queue is missing: install python-telegram-bot[job-queue]")
    # APScheduler would skip overlapping runs with a warning; the poller guards itself.
    options = {"max_instances": 2, "coalesce": True, "misfire_grace_time": None}
    job_queue.run_repeating(
        poll_subscriptions, settings.poll_tick_seconds, first=1.0, name="poll", job_kwargs=options
    )
    job_queue.run_repeating(
        send_notifications, OUTBOX_INTERVAL, first=0.5, name="outbox", job_kwargs=options
    )
    job_queue.run_repeating(prune_storage, 86_400, first=60, name="maintenance")


async def poll_subscriptions(context: BotContext) -> None:
    """Job: one poll tick."""
    await context.bot_data.poller.tick()


async def prune_storage(context: BotContext) -> None:
    """Job: delete what nobody needs any more, so the database stays small and private."""
    storage = context.bot_data.storage
    now = datetime.now(UTC)
    removed = {
        # First, so that the parcels of deleted archive entries go in the same run.
        "archived parcels": await storage.prune_archive(now - timedelta(days=ARCHIVE_DAYS)),
        "parcels nobody follows": await storage.prune_orphan_parcels(now - timedelta(days=1)),
        "sent pushes": await storage.prune_outbox(now - timedelta(days=7)),
        "carrier calls": await storage.prune_carrier_calls(now - timedelta(days=7)),
        "detections": await storage.prune_detections(now - timedelta(days=90)),
        "budget days": await storage.prune_budget(budget_day(now - timedelta(days=30))),
    }
    logger.info("maintenance removed %s", removed)


async def send_notifications(context: BotContext) -> None:
    """Job: drain the outbox (refresh-button changes, rows left by a crash, retries)."""
    if context.bot_data.poller.ticking:
        return  # the tick drains when its carriers are done: one message per chat per tick
    await context.bot_data.notifier.drain()


async def stop_services(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Close what ``start_services`` opened, in reverse order."""
    data: BotData = application.bot_data
    poller = getattr(data, "poller", None)
    if poller is not None:
        await poller.close()
    session = getattr(data, "session", None)
    if session is not None:
        await session.close()
    storage = getattr(data, "storage", None)
    if storage is not None:
        await storage.close()


async def _publish_commands(
    application: Application[Any, Any, Any, Any, Any, Any],
    catalogs: Catalogs,
    admin_ids: frozenset[int],
) -> None:
    """Set the command menus per language: private, groups, and each admin's own chat."""
    scopes: list[tuple[BotCommandScope, tuple[tuple[str, str], ...]]] = [
        (BotCommandScopeAllPrivateChats(), PRIVATE_COMMANDS),
        (BotCommandScopeAllGroupChats(), GROUP_COMMANDS),
    ]
    # Admin commands appear only in the admins' own chats, never in the public menu.
    scopes += [(BotCommandScopeChat(a), PRIVATE_COMMANDS + ADMIN_COMMANDS) for a in admin_ids]
    for language in (None, *LANGUAGES):
        tr = catalogs.get(language)
        for scope, commands in scopes:
            try:
                await application.bot.set_my_commands(
                    [BotCommand(name, tr.gettext(text)) for name, text in commands],
                    scope=scope,
                    language_code=language,
                )
            except BadRequest as err:  # e.g. an admin who never opened a chat with the bot
                logger.warning("cannot set commands for %s: %s", scope.type, err.message)


def run(settings: Settings, catalogs: Catalogs) -> int:
    """Run until Ctrl-C or SIGTERM: long polling, or a webhook when WEBHOOK_URL is set."""
    configure_logging(settings.log_level, settings.secrets)
    application = build_application(settings, catalogs)
    try:
        _run(application, settings)
    except StorageError as err:
        logger.critical("%s", err)
        return 2
    except InvalidToken:
        logger.critical("Telegram refused TELEGRAM_BOT_TOKEN: check the token from @BotFather.")
        return 2
    except NetworkError as err:
        logger.critical(
            "cannot reach the Telegram Bot API (%s): %s", settings.telegram_api_base_url, err
        )
        return 3
    return 0


def _run(application: BotApplication, settings: Settings) -> None:
    """Start polling or the webhook listener and block until stopped."""
    if settings.webhook_url is None:
        application.run_polling(allowed_updates=Update.ALL_TYPES)
        return
    path = urlsplit(settings.webhook_url).path.strip("/")
    logger.info("webhook mode: listening on port %s, path /%s", settings.port, path)
    # run_webhook registers the webhook (with the secret Telegram echoes in a header, which
    # PTB verifies); post_stop removes it again.
    application.run_webhook(
        listen="0.0.0.0",  # a webhook must be reachable from outside
        port=settings.port,
        url_path=path,
        webhook_url=settings.webhook_url,
        secret_token=settings.webhook_secret,
        allowed_updates=Update.ALL_TYPES,
    )


async def remove_webhook(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Deregister the webhook when the bot stops in webhook mode."""
    data: BotData = application.bot_data
    if data.settings.webhook_url is None:
        return
    try:
        await application.bot.delete_webhook()
    except TelegramError as err:
        logger.warning("could not remove the webhook: %s", err)
