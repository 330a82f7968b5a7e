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

from bot.barcodes import UnreadableImage, read_codes
from bot.context import BotContext
from bot.handlers.common import reply
from bot.keyboards import scanned_keyboard
from bot.requests import parse_message

logger = logging.getLogger(__name__)

LAST_ALBUM = "last_album"  # chat memory: the album (media group) last answered
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


def first_of_album(context: BotContext, album: str | None) -> bool:
    """Tell whether to answer: always outside an album, once per album (not per picture)."""
    if album is None:
        return True
    if context.chat_memory.get(LAST_ALBUM) == album:
        return False
    context.chat_memory[LAST_ALBUM] = album
    return True


async def offer_scanned(
    update: Update, context: BotContext, picture: Picture, *, album: str | None = None
) -> None:
    """Read a picture's codes and offer to follow the tracking numbers among them."""
    tr = context.tr
    _ = tr.gettext
    codes: list[str] = []
    problem: str | None = None
    try:
        codes = await _read(context, picture)
    except PictureTooLarge:
        problem = _(
            "This picture is too large for me. Send it as a photo rather than a file, or send "
            "the number as text."
        )
    except TelegramError as err:
        logger.warning("cannot download a picture: %s", err)
        problem = _("I could not download this picture. Please send it again.")
    except UnreadableImage as err:
        logger.info("unreadable picture: %s", err)
    limit = min(MAX_OFFERED, context.bot_data.settings.max_numbers_per_message)
    numbers = [request.number for request in parse_message("\n".join(codes), limit).requests]
    if numbers:
        listed = "\n".join(f"• <code>{html.escape(n)}</code>" for n in numbers)
        text = tr.ngettext(
            "I read this tracking number on the picture:\n{numbers}\n\nFollow it?",
            "I read these tracking numbers on the picture:\n{numbers}\n\nFollow them?",
            len(numbers),
        ).format(numbers=listed)
        await reply(update, text, reply_markup=scanned_keyboard(numbers, tr))
        first_of_album(context, album)  # the album's pictures without numbers stay quiet
        return
    if not first_of_album(context, album):
        return  # another picture of the album was answered already
    if problem is None:
        problem = (
            _(
                "The code on this picture holds no tracking number I know. If the number is "
                "printed elsewhere on the label, send it as text."
            )
            if codes
            else _(
                "I found no barcode on this picture. Take a sharper photo with the barcode "
                "filling most of the frame, or send the number as text."
            )
        )
    await reply(update, problem)


async def _read(context: BotContext, picture: Picture) -> list[str]:
    """Download a picture and return the texts of its codes (decoded in a worker thread)."""
    if (picture.file_size or 0) > MAX_DOWNLOAD:
        raise PictureTooLarge
    file = await picture.get_file()
    if (file.file_size or 0) > MAX_DOWNLOAD:
        raise PictureTooLarge
    data = bytes(await file.download_as_bytearray())
    # Decoding takes tens of milliseconds of CPU: a few at a time, off the event loop.
    async with context.bot_data.decoding:
        return await asyncio.to_thread(read_codes, data)
