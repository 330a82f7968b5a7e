"""Barcodes on photographed labels: read, offered with buttons, followed on confirmation."""

from __future__ import annotations

import asyncio
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from telegram import (
    CallbackQuery,
    Chat,
    Document,
    InaccessibleMessage,
    InlineKeyboardMarkup,
    Message,
    PhotoSize,
    Update,
    User,
)
from telegram.error import NetworkError

from bot.barcodes import MAX_PIXELS, MAX_PIXELS_DECODED_WHOLE, UnreadableImage, read_codes
from bot.handlers import scan
from bot.handlers.scan import MAX_DOWNLOAD
from tests.bot_env import BotEnv, running_bot
from tests.fake_carriers import FakeEvent
from tests.pictures import blank_photo, label_photo
from tests.telegram_fakes import BOT_ID, Call, make_callback, make_message, make_user

T0 = datetime(2026, 7, 27, 13, 33, tzinfo=UTC)
UP = "0500100031143"
INPOST = "612345678901234567890123"
S10 = "RA067022855UA"
CODE128, QR, EAN13 = (
    zxingcpp.BarcodeFormat.Code128,
    zxingcpp.BarcodeFormat.QRCode,
    zxingcpp.BarcodeFormat.EAN13,
)
_ids = iter(range(50_000, 60_000))
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto 10 10 lineto stroke\n%%EOF\n"


@pytest.fixture
async def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running_bot(tmp_path) as bot_env:
        bot_env.carriers.set("ukrposhta", UP, FakeEvent("21700", T0, "ODESA 1"))
        bot_env.carriers.set("inpost", INPOST, FakeEvent("ready_to_pickup", T0, "Kraków"))
        yield bot_env


def photo_message(
    env: BotEnv,
    picture: bytes,
    *,
    chat: Chat | None = None,
    user_id: int = 1,
    album: str | None = None,
    caption: str | None = None,
    file_size: int | None = None,
) -> Message:
    """Return a message with a photo whose file the fake Bot API serves."""
    file_id = f"photo{next(_ids)}"
    env.telegram.downloads[file_id] = picture
    sizes = (
        PhotoSize(f"{file_id}-small", "small", 90, 60, file_size=2_000),
        PhotoSize(file_id, "large", 1400, 1000, file_size=file_size or len(picture)),
    )
    return Message(
        next(_ids),
        datetime.now(UTC),
        chat or Chat(user_id, Chat.PRIVATE),
        from_user=User(user_id, "Olena", False, language_code="en"),
        photo=sizes,
        media_group_id=album,
        caption=caption,
    )


def markup_of(params: dict) -> list[str]:  # type: ignore[type-arg]
    markup = params.get("reply_markup")
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return [b["callback_data"] for row in (markup or {}).get("inline_keyboard", []) for b in row]


async def send_photo(env: BotEnv, message: Message) -> None:
    await env.send(Update(next(_ids), message=message))


def press(data: str, offer: Call | str, *, chat: Chat | None = None, user_id: int = 1) -> Update:
    """Press a button under the bot's offer, as Telegram shows it (text without tags, buttons)."""
    if isinstance(offer, str):
        return make_callback(data, chat=chat, user=make_user(user_id, "en"), message_text=offer)
    markup = offer.params.get("reply_markup")
    markup = json.loads(markup) if isinstance(markup, str) else markup
    message = Message(
        next(_ids),
        datetime.now(UTC),
        chat or Chat(user_id, Chat.PRIVATE),
        from_user=User(BOT_ID, "Parcel", True),
        text=re.sub(r"</?code>", "", offer.text),
        reply_markup=InlineKeyboardMarkup.de_json(markup, None),
    )
    user = make_user(user_id, "en")
    return Update(
        next(_ids), callback_query=CallbackQuery("q", user, "i", data=data, message=message)
    )


async def test_a_photographed_label_is_offered_then_followed_on_confirmation(env: BotEnv) -> None:
    await send_photo(env, photo_message(env, label_photo((UP, CODE128))))
    [offer] = env.telegram.sent()
    assert "I read this tracking number on the picture" in offer.text
    assert f"<code>{UP}</code>" in offer.text
    assert markup_of(offer.params) == [f"b:{UP}"]
    assert env.carriers.requests == []  # nothing asked before the user confirms
    assert await env.storage.count_subscriptions(1) == 0
    [download] = env.telegram.sent("download")
    assert download.params["url"].startswith("https://api.telegram.org/file/bot123456")
    env.telegram.clear()
    await env.send(press(f"b:{UP}", offer))
    assert any("ODESA 1" in text for text in env.telegram.texts(1))
    [view] = await env.storage.list_subscriptions(1)
    assert (view.parcel.number, view.label) == (UP, None)
    [edit] = env.telegram.sent("editMessageReplyMarkup")
    assert markup_of(edit.params) == []


async def test_several_codes_and_a_qr_link_are_offered_and_followed_together(
    env: BotEnv,
) -> None:
    url = f"https://inpost.pl/sledzenie-przesylek?number={INPOST}"
    await send_photo(env, photo_message(env, label_photo((UP, CODE128), (url, QR), angle=0)))
    [offer] = env.telegram.sent()
    assert "I read these tracking numbers on the picture" in offer.text
    assert set(markup_of(offer.params)) == {f"b:{UP}", f"b:{INPOST}", "b:all"}
    env.telegram.clear()
    await env.send(press(f"b:{INPOST}", offer))
    [edit] = env.telegram.sent("editMessageReplyMarkup")
    assert markup_of(edit.params) == [f"b:{UP}"]  # "all" goes when one number is left
    env.telegram.clear()
    # "All" reads the numbers back from the offer's text.
    await env.send(press("b:all", offer))
    assert await env.storage.count_subscriptions(1) == 2
    [summary] = env.telegram.sent()
    assert UP in summary.text
    assert INPOST in summary.text
    [edit] = env.telegram.sent("editMessageReplyMarkup")
    assert markup_of(edit.params) == []


async def test_a_product_barcode_is_not_a_tracking_number(env: BotEnv) -> None:
    await send_photo(env, photo_message(env, label_photo(("4820024700016", EAN13))))
    [answer] = env.telegram.texts(1)
    assert "holds no tracking number I know" in answer
    assert env.carriers.requests == []


async def test_a_picture_without_code_gets_advice(env: BotEnv) -> None:
    await send_photo(env, photo_message(env, blank_photo()))
    [answer] = env.telegram.texts(1)
    assert "I found no barcode on this picture" in answer


@pytest.mark.parametrize("data", [b"\x89PNG broken", b"", EPS])
async def test_a_file_that_is_no_picture_is_said_so(env: BotEnv, data: bytes) -> None:
    await send_photo(env, photo_message(env, data))
    [answer] = env.telegram.texts(1)
    assert "I cannot open this file as a picture" in answer


async def test_a_caption_with_a_number_wins_over_the_picture(env: BotEnv) -> None:
    await send_photo(env, photo_message(env, label_photo((S10, CODE128)), caption=f"{UP} boots"))
    assert env.telegram.sent("getFile") == []
    [view] = await env.storage.list_subscriptions(1)
    assert (view.parcel.number, view.label) == (UP, "boots")


async def test_too_large_or_undownloadable_pictures_are_explained(env: BotEnv) -> None:
    big = photo_message(env, label_photo((UP, CODE128)))
    big = Message(
        big.message_id,
        big.date,
        big.chat,
        from_user=big.from_user,
        document=Document("huge", "huge-u", mime_type="image/png", file_size=MAX_DOWNLOAD + 1),
    )
    await send_photo(env, big)
    assert "too large for me" in env.telegram.texts(1)[-1]
    assert env.telegram.sent("getFile") == []
    env.telegram.failures["getFile"] = NetworkError("connection reset")
    await send_photo(env, photo_message(env, label_photo((UP, CODE128))))
    assert "could not download this picture" in env.telegram.texts(1)[-1]


async def test_an_image_file_is_read_like_a_photo(env: BotEnv) -> None:
    env.telegram.downloads["label-png"] = label_photo((S10, CODE128), fmt="PNG")
    message = Message(
        next(_ids),
        datetime.now(UTC),
        Chat(1, Chat.PRIVATE),
        from_user=User(1, "Olena", False, language_code="en"),
        document=Document("label-png", "u", mime_type="image/png", file_size=50_000),
    )
    await send_photo(env, message)
    [offer] = env.telegram.sent()
    assert markup_of(offer.params) == [f"b:{S10}"]


async def test_an_album_gets_one_failure_answer_but_every_found_number(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan, "ALBUM_SETTLE", 0.01)
    for _ in range(3):
        await send_photo(env, photo_message(env, blank_photo(), album="album-1"))
    assert len(env.telegram.sent()) == 1
    env.telegram.clear()
    await send_photo(env, photo_message(env, label_photo((UP, CODE128)), album="album-2"))
    await send_photo(env, photo_message(env, blank_photo(), album="album-2"))
    await send_photo(env, photo_message(env, label_photo((S10, CODE128)), album="album-2"))
    offers = [markup_of(call.params) for call in env.telegram.sent()]
    assert offers == [[f"b:{UP}"], [f"b:{S10}"]]


async def test_an_albums_picture_without_code_waits_for_its_siblings(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan, "ALBUM_SETTLE", 1.0)
    blank = photo_message(env, blank_photo(), album="album-3")
    label = photo_message(env, label_photo((UP, CODE128)), album="album-3")
    # Telegram delivers an album's pictures together; the bot reads them concurrently.
    await asyncio.gather(send_photo(env, blank), send_photo(env, label))
    [offer] = env.telegram.sent()
    assert markup_of(offer.params) == [f"b:{UP}"]


async def test_an_albums_caption_answers_for_all_its_pictures(env: BotEnv) -> None:
    await send_photo(
        env, photo_message(env, label_photo((S10, CODE128)), album="a4", caption=f"{UP} boots")
    )
    await send_photo(env, photo_message(env, label_photo((S10, CODE128)), album="a4"))
    assert env.telegram.sent("getFile") == []
    [card] = env.telegram.sent()
    assert UP in card.text


async def test_a_chat_gets_a_few_pictures_read_at_once(env: BotEnv) -> None:
    env.app.chat_data[1][scan.SCANNING] = scan.MAX_PENDING  # as if three were being read
    await send_photo(env, photo_message(env, label_photo((UP, CODE128))))
    [note] = env.telegram.texts(1)
    assert "a few pictures at a time" in note
    assert env.telegram.sent("getFile") == []


async def test_an_inaccessible_offer_answers_with_an_alert(env: BotEnv) -> None:
    user = make_user(1, "en")
    gone = InaccessibleMessage(Chat(1, Chat.PRIVATE), 77)
    query = CallbackQuery("q", user, "i", data=f"b:{UP}", message=gone)
    await env.send(Update(next(_ids), callback_query=query))
    [answer] = env.telegram.sent("answerCallbackQuery")
    assert "no longer valid" in answer.params["text"]
    assert await env.storage.count_subscriptions(1) == 0


async def test_buttons_stay_for_numbers_that_were_not_followed(tmp_path: Path) -> None:
    async with running_bot(tmp_path, MAX_PARCELS_PER_CHAT="1") as env:
        env.carriers.set("ukrposhta", UP, FakeEvent("21700", T0, "ODESA 1"))
        env.carriers.set("inpost", INPOST, FakeEvent("ready_to_pickup", T0, "Kraków"))
        url = f"https://inpost.pl/sledzenie-przesylek?number={INPOST}"
        await send_photo(env, photo_message(env, label_photo((UP, CODE128), (url, QR), angle=0)))
        [offer] = env.telegram.sent()
        env.telegram.clear()
        await env.send(press("b:all", offer))
        assert await env.storage.count_subscriptions(1) == 1  # the chat's limit
        [edit] = env.telegram.sent("editMessageReplyMarkup")
        [left] = markup_of(edit.params)
        assert left in {f"b:{UP}", f"b:{INPOST}"}


async def test_track_as_a_reply_to_a_photo_in_a_group(env: BotEnv) -> None:
    group = Chat(-10, Chat.SUPERGROUP, title="Family")
    photo = photo_message(env, label_photo((UP, CODE128)), chat=group, user_id=2)
    await env.send(make_message("/track", chat=group, user=make_user(3, "en"), reply_to=photo))
    [offer] = env.telegram.sent()
    assert markup_of(offer.params) == [f"b:{UP}"]
    await env.send(press(f"b:{UP}", offer, chat=group, user_id=4))
    [view] = await env.storage.list_subscriptions(-10)
    assert view.parcel.number == UP


async def test_forged_or_stale_buttons_cost_nothing(env: BotEnv) -> None:
    await env.send(press("b:all", "no numbers here"))
    await env.send(press("b:NOTANUMBER1", "offer"))
    assert env.carriers.requests == []
    assert await env.storage.count_subscriptions(1) == 0
    assert all("RA067022855UA" in text for text in env.telegram.texts(1))  # how numbers look


@pytest.mark.parametrize(
    ("fmt", "limit"), [("PNG", MAX_PIXELS_DECODED_WHOLE), ("JPEG", MAX_PIXELS)]
)
def test_read_codes_refuses_huge_pictures_before_decoding(fmt: str, limit: int) -> None:
    out = io.BytesIO()
    side = int(limit**0.5) + 10
    Image.new("L" if fmt == "JPEG" else "1", (side, side), 255).save(out, fmt)
    with pytest.raises(UnreadableImage, match="too large"):
        read_codes(out.getvalue())


def test_read_codes_never_hands_eps_to_ghostscript(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import EpsImagePlugin

    calls: list[object] = []
    # As on a host with Ghostscript installed: Pillow would run it on an EPS file.
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: True)
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *args, **kw: calls.append(args))
    with pytest.raises(UnreadableImage):
        read_codes(EPS)
    assert calls == []


def test_a_large_multi_picture_jpeg_is_read_like_a_jpeg() -> None:
    out = io.BytesIO()
    first, second = Image.new("L", (5000, 4000), 255), Image.new("L", (500, 400), 255)
    first.save(out, "MPO", save_all=True, append_images=[second])  # e.g. an HDR gain map
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    assert read_codes(out.getvalue()) == []


async def test_a_picture_with_too_many_pixels_is_called_too_large(env: BotEnv) -> None:
    out = io.BytesIO()
    side = int(MAX_PIXELS_DECODED_WHOLE**0.5) + 10
    Image.new("1", (side, side), 1).save(out, "PNG")
    await send_photo(env, photo_message(env, out.getvalue()))
    [answer] = env.telegram.texts(1)
    assert "too large for me" in answer


async def test_the_chats_reading_count_goes_back_to_zero(env: BotEnv) -> None:
    env.telegram.failures["getFile"] = NetworkError("reset")
    await send_photo(env, photo_message(env, label_photo((UP, CODE128))))
    del env.telegram.failures["getFile"]
    for picture in (label_photo((UP, CODE128)), blank_photo(), b"junk"):
        await send_photo(env, photo_message(env, picture))
    assert env.app.chat_data[1][scan.SCANNING] == 0
    assert len(env.telegram.texts(1)) == 4


async def test_forgetting_the_chat_while_a_picture_is_read(env: BotEnv) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    original = scan.read_codes

    def slow_read(data: bytes) -> list[str]:
        return original(data)

    async def held_to_thread(func, *args):  # type: ignore[no-untyped-def]
        started.set()
        await release.wait()
        return func(*args)

    scan_task = asyncio.create_task(
        send_photo(env, photo_message(env, label_photo((UP, CODE128))))
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scan.asyncio, "to_thread", held_to_thread)
        patch.setattr(scan, "read_codes", slow_read)
        await asyncio.wait_for(started.wait(), 10)
        env.app.chat_data[1].clear()  # what a confirmed /forget does
        release.set()
        await asyncio.wait_for(scan_task, 10)
    offers = [call for call in env.telegram.sent() if "I read this tracking number" in call.text]
    assert len(offers) == 1
    assert env.app.chat_data[1].get(scan.SCANNING, 0) == 0


def test_read_codes_reads_each_code_once() -> None:
    picture = label_photo((S10, CODE128), (S10, CODE128), (UP, CODE128), angle=0)
    assert sorted(read_codes(picture)) == sorted([S10, UP])
