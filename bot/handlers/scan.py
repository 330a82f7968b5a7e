"""Barcodes on photographed labels: download the picture, read its codes, offer the numbers.

A number read from a picture is offered, not followed: a photo may catch a product's barcode
or someone else's label, so the user confirms with a button (bot/handlers/media.py).
"""

from __future__ import annotations

import asyncio
import html
import logging

from telegram import Document, Message, PhotoSize, Update
from telegram.error import TelegramError

from bot.barcodes import ImageTooLarge, UnreadableImage, read_codes
from bot.context import BotContext
from bot.handlers.common import reply
from bot.keyboards import scanned_keyboard
from bot.requests import parse_message

logger = logging.getLogger(__name__)

ALBUMS = "albums"  # chat memory: how each recent album (media group) was answered
CAPTIONED, ANSWERED = "captioned", "answered"  # an album's caption named its numbers; or not
MAX_ALBUMS = 5
SCANNING = "scanning"  # chat memory: pictures of the chat being read now
MAX_PENDING = 3  # pictures of one chat read at once; more are asked for again later
ALBUM_SETTLE = 3.0  # seconds an album's picture without numbers waits for its siblings
MAX_DOWNLOAD = 5 * 1024 * 1024  # bytes; a label photo is far smaller (bots may fetch 20 MB)
MAX_OFFERED = 5  # numbers offered from one picture, each with its button

Picture = PhotoSize | Document


class PictureTooLarge(Exception):
    """The picture is larger than the bot downloads."""


def picture_of(message: Message) -> Picture | None:
    """Return the message's photo (the largest size the bot downloads) or image file."""
    if message.photo:
        fitting = [p for p in message.photo if (p.file_size or 0) <= MAX_DOWNLOAD]
        sizes = fitting or [min(message.photo, key=lambda p: p.width * p.height)]
        return max(sizes, key=lambda p: p.width * p.height)
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        return document
    return None


def album_state(context: BotContext, album: str | None) -> str | None:
    """Return how an album was answered: CAPTIONED, ANSWERED, or None (not yet)."""
    return None if album is None else context.chat_memory.get(ALBUMS, {}).get(album)


def mark_album(context: BotContext, album: str | None, state: str) -> None:
    """Remember how an album was answered (the latest few albums of the chat)."""
    if album is None:
        return
    albums: dict[str, str] = context.chat_memory.setdefault(ALBUMS, {})
    albums.setdefault(album, state)
    for old in list(albums)[:-MAX_ALBUMS]:
        del albums[old]


async def offer_scanned(
    update: Update, context: BotContext, picture: Picture, *, album: str | None = None
) -> None:
    """Read a picture's codes and offer to follow the tracking numbers among them.

    An album gets offers for every picture with numbers, and at most one note for the rest,
    sent only when none of its pictures had numbers.
    """
    tr = context.tr
    _ = tr.gettext
    if album_state(context, album) == CAPTIONED:
        return  # the album's caption named the numbers
    memory = context.chat_memory
    if memory.get(SCANNING, 0) >= MAX_PENDING:
        if album_state(context, album) is None:
            mark_album(context, album, ANSWERED)
            await reply(
                update,
                _(
                    "I read a few pictures at a time: send the others again once these are "
                    "answered."
                ),
            )
        return
    memory[SCANNING] = memory.get(SCANNING, 0) + 1
    try:
        codes, problem = await _scan(context, picture)
    finally:  # /forget may have cleared the chat's memory meanwhile
        memory[SCANNING] = max(memory.get(SCANNING, 1) - 1, 0)
    limit = min(MAX_OFFERED, context.bot_data.settings.max_numbers_per_message)
    numbers = [request.number for request in parse_message("\n".join(codes), limit).requests]
    if numbers:
        listed = "\n".join(f"• <code>{html.escape(n)}</code>" for n in numbers)
        text = tr.ngettext(
            "I read this tracking number on the picture:\n{numbers}\n\nFollow it?",
            "I read these tracking numbers on the picture:\n{numbers}\n\nFollow them?",
            len(numbers),
        ).format(numbers=listed)
        mark_album(context, album, ANSWERED)
        await reply(update, text, reply_markup=scanned_keyboard(numbers, tr))
        return
    if album is not None:
        await asyncio.sleep(ALBUM_SETTLE)  # the album's other pictures may hold numbers
        if album_state(context, album) is not None:
            return
        mark_album(context, album, ANSWERED)
    if codes:
        problem = _(
            "The code on this picture holds no tracking number I know. If the number is "
            "printed elsewhere on the label, send it as text."
        )
    await reply(update, problem)


async def _scan(context: BotContext, picture: Picture) -> tuple[list[str], str]:
    """Download and decode a picture; return its codes and what to say if none is useful."""
    _ = context.tr.gettext
    try:
        # Downloads and decoding share one bound: memory and CPU stay in check under a flood.
        async with context.bot_data.decoding:
            return await _read(picture), _(
                "I found no barcode on this picture. Take a sharper photo with the barcode "
                "filling most of the frame, or send the number as text."
            )
    except (PictureTooLarge, ImageTooLarge):
        return [], _(
            "This picture is too large for me. Send it as a photo rather than a file, or send "
            "the number as text."
        )
    except TelegramError as err:
        logger.warning("cannot download a picture: %s", err)
        return [], _("I could not download this picture. Please send it again.")
    except UnreadableImage as err:
        logger.info("unreadable picture: %s", err)
        return [], _(
            "I cannot open this file as a picture. Send a photo of the label, or the number as "
            "text."
        )


async def _read(picture: Picture) -> list[str]:
    """Download a picture and return the texts of its codes (decoded in a worker thread)."""
    if (picture.file_size or 0) > MAX_DOWNLOAD:
        raise PictureTooLarge
    file = await picture.get_file()
    if (file.file_size or 0) > MAX_DOWNLOAD:
        raise PictureTooLarge
    data = bytes(await file.download_as_bytearray())
    return await asyncio.to_thread(read_codes, data)
