"""Handlers through Application.process_update, with loopback carriers and a recording Bot API."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram import Chat, Location, Message, MessageEntity, PhotoSize, Update, User

from bot.carriers.models import KYIV
from bot.handlers import scan
from bot.quota import next_budget_day
from bot.schedule import JITTER, RETRY_INTERVAL
from tests.bot_env import BotEnv, running_bot
from tests.fake_carriers import FakeEvent
from tests.telegram_fakes import (
    BOT_USERNAME,
    make_callback,
    make_chat,
    make_edit,
    make_membership,
    make_message,
    make_user,
    text_message,
)

T0 = datetime(2026, 7, 27, 13, 33, tzinfo=UTC)
UP = "0500100031143"
UP2 = "0500100031135"
INPOST = "612345678901234567890123"
NP = "20400048799000"
AMBIGUOUS = "A1234567895"  # UPS waybill (check digit passes) or Amazon International


@pytest.fixture
async def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running_bot(tmp_path) as bot_env:
        bot_env.carriers.set(
            "ukrposhta",
            UP,
            FakeEvent("10100", T0, "DKD KYIV"),
            FakeEvent("21700", T0 + timedelta(days=1), "ODESA 1"),
        )
        bot_env.carriers.set("inpost", INPOST, FakeEvent("ready_to_pickup", T0, "Kraków"))
        bot_env.carriers.set("nova-poshta", NP, FakeEvent("7", T0, "Відділення №1"))
        yield bot_env


def keyboard(call_params: dict) -> list[list[dict]]:  # type: ignore[type-arg]
    markup = call_params.get("reply_markup")
    if markup is None:
        return []
    data = json.loads(markup) if isinstance(markup, str) else markup
    return data.get("inline_keyboard", [])


def buttons(call_params: dict) -> list[str]:  # type: ignore[type-arg]
    return [b["callback_data"] for row in keyboard(call_params) for b in row if "url" not in b]


def links(call_params: dict) -> list[str]:  # type: ignore[type-arg]
    return [b["url"] for row in keyboard(call_params) for b in row if "url" in b]


async def follow(env: BotEnv, text: str, user_id: int = 1) -> None:
    await env.send(make_message(text, user=make_user(user_id)))


async def test_single_number_gets_a_card_and_is_followed(env: BotEnv) -> None:
    await follow(env, f"{UP} phone case")
    [card] = env.telegram.sent()
    assert UP in card.text
    assert "phone case" in card.text
    assert "ODESA 1" in card.text
    data = buttons(card.params)
    assert {d.split(":")[0] for d in data} == {"h", "r", "n", "v", "x"}
    # Share: Telegram's share sheet with the deep link that follows the number, and a text.
    [share] = links(card.params)
    assert share == (
        f"https://t.me/share/url?url=https%3A%2F%2Ft.me%2F{BOT_USERNAME}%3Fstart%3D{UP}"
        f"&text=%D0%A1%D1%82%D0%B5%D0%B6%D0%BC%D0%BE%20%D1%80%D0%B0%D0%B7%D0%BE%D0%BC"
        f"%20%D0%B7%D0%B0%20%D0%BF%D0%BE%D1%81%D0%B8%D0%BB%D0%BA%D0%BE%D1%8E%20{UP}"
    )
    [view] = await env.storage.list_subscriptions(1)
    assert view.label == "phone case"
    assert view.parcel.number == UP
    assert view.parcel.carrier == "ukrposhta"
    assert len(await env.storage.parcel_events(view.parcel.id)) == 2
    # The card ends with when the parcel was checked and will be next (Kyiv time).
    assert view.parcel.last_checked_at is not None
    assert view.parcel.next_check_at is not None
    checked = view.parcel.last_checked_at.astimezone(KYIV).strftime("%H:%M")
    due = view.parcel.next_check_at.astimezone(KYIV).strftime("%H:%M")
    if view.parcel.next_check_at.astimezone(KYIV).date() == datetime.now(KYIV).date():
        assert card.text.endswith(
            f"<i>Перевірено {checked}, наступна перевірка близько {due} (за Києвом).</i>"
        )


async def test_several_numbers_give_one_summary(env: BotEnv) -> None:
    text = f"Ваше замовлення: ТТН {NP}, посилка {INPOST}\nі ще {UP}"
    await follow(env, text)
    sent = env.telegram.sent()
    assert len(sent) == 1
    for number in (NP, INPOST, UP):
        assert number in sent[0].text
    assert await env.storage.count_subscriptions(1) == 3
    # Each parcel's card is a tap away, two buttons a row.
    views = {v.parcel.number: v.id for v in await env.storage.list_subscriptions(1)}
    rows = keyboard(sent[0].params)
    assert [len(row) for row in rows] == [2, 1]
    assert [(b["text"], b["callback_data"]) for row in rows for b in row] == [
        (f"📄 {name}", f"c:{views[number]}")
        for number, name in ((NP, NP), (INPOST, "…" + INPOST[-8:]), (UP, UP))  # the end differs
    ]


async def test_a_number_sent_again_keeps_the_carriers_no_record_note(env: BotEnv) -> None:
    await env.send(make_message(UP2, user=make_user(1, "en")))
    [card] = env.telegram.sent()
    assert f"Ukrposhta has no record of {UP2} yet" in card.text
    env.telegram.clear()
    await env.send(make_message(UP2, user=make_user(2, "en")))  # shown what storage knows
    [card] = env.telegram.sent()
    assert f"Last check: Ukrposhta has no data about {UP2} yet." in card.text
    assert env.carriers.hits["ukrposhta"] == 1
    [view] = await env.storage.list_subscriptions(2)
    await env.send(make_callback(f"v:{view.id}", user=make_user(2, "en")))  # "I have it"
    env.telegram.clear()
    await env.send(make_callback(f"c:{view.id}", user=make_user(2, "en")))
    [archived] = env.telegram.sent("sendMessage")
    assert "I no longer track it" in archived.text
    assert "keep checking" not in archived.text


async def test_numbers_after_a_number_are_its_label_only_beside_words(env: BotEnv) -> None:
    await follow(env, f"{UP} 12345678 order\n{NP} 0671234567")
    labels = {v.parcel.number: v.label for v in await env.storage.list_subscriptions(1)}
    assert labels == {UP: "12345678 order", NP: "0671234567"}  # a phone is no typo
    [summary] = env.telegram.sent()
    assert "12345678" not in summary.text.split("\n", 1)[0]
    assert "typos" not in summary.text
    assert "помилки" not in summary.text


async def test_a_mistyped_number_beside_a_good_one_is_not_its_label(env: BotEnv) -> None:
    await follow(env, f"{NP} 0500100031144", user_id=1)
    [view] = await env.storage.list_subscriptions(1)
    assert view.label is None
    [summary] = env.telegram.sent()
    assert summary.text.startswith("Перевірено 2 номери:")  # both lines are counted
    assert "0500100031144" in summary.text


async def test_the_summary_says_why_a_parcel_has_no_data(env: BotEnv) -> None:
    env.carriers.faults["inpost"] = "503"
    env.carriers.set("ukrposhta", UP2)  # not handed over yet: no data, nothing failed
    await env.send(make_callback("g:en"))
    env.telegram.clear()
    await follow(env, f"{INPOST}\n{UP2}\n{NP}")
    [summary] = env.telegram.sent()
    lines = {line.split("</code>")[0][8:]: line for line in summary.text.splitlines()[1:4]}
    assert lines[INPOST].endswith("no data yet. InPost is not answering right now.")
    assert lines[UP2].endswith("no data yet")


_media_ids = iter(range(9_000, 10_000))


def media_message(caption: str | None = None, **media: object) -> Update:
    """Build a private message with a photo (or other media) and an optional caption."""
    message = Message(
        next(_media_ids),
        datetime.now(UTC),
        Chat(1, Chat.PRIVATE),
        from_user=User(1, "Olena", False, language_code="en"),
        caption=caption,
        **media,  # type: ignore[arg-type]
    )
    return Update(next(_media_ids), message=message)


async def test_pictures_and_other_media_get_an_answer_captions_are_read(
    env: BotEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan, "ALBUM_SETTLE", 0.01)
    photo = [PhotoSize("file", "unique", 90, 90)]  # the fake Bot API serves no picture for it
    await env.send(media_message(photo=photo))
    assert "I cannot open this file as a picture" in env.telegram.texts(1)[-1]
    await env.send(media_message(location=Location(30.5, 50.4)))
    assert env.telegram.texts(1)[-1] == "Send me a tracking number, and I will find the parcel."
    assert sum(env.carriers.hits.values()) == 0
    await env.send(media_message(f"{UP} boots", photo=photo))  # a shop screenshot, captioned
    [view] = await env.storage.list_subscriptions(1)
    assert (view.parcel.number, view.label) == (UP, "boots")
    assert "ODESA 1" in env.telegram.texts(1)[-1]
    env.telegram.clear()
    for _ in range(3):  # an album of three pictures: one answer
        await env.send(media_message(photo=photo, media_group_id="album-1"))
    assert len(env.telegram.sent()) == 1


async def test_a_picture_instead_of_a_new_name_is_answered_and_the_flow_waits(
    env: BotEnv,
) -> None:
    await env.send(make_message(UP, user=make_user(1, "en")))
    [view] = await env.storage.list_subscriptions(1)
    await env.send(make_callback(f"n:{view.id}", user=make_user(1, "en")))
    env.telegram.clear()
    await env.send(media_message(f"{UP2} other", photo=[PhotoSize("f", "u", 9, 9)]))
    assert env.telegram.texts(1) == ["Please send the new name as text, or /cancel."]
    assert await env.storage.count_subscriptions(1) == 1  # the caption was not tracked
    await env.send(make_message("Boots", user=make_user(1, "en")))
    [renamed] = await env.storage.list_subscriptions(1)
    assert renamed.label == "Boots"


async def test_text_without_numbers_gets_a_hint_and_costs_nothing(env: BotEnv) -> None:
    await follow(env, "привіт, як справи?")
    [hint] = env.telegram.sent()
    assert "RA067022855UA" not in hint.text  # a hint, not the "invalid number" answer
    assert sum(env.carriers.hits.values()) == 0
    assert await env.storage.count_subscriptions(1) == 0


async def test_wrong_check_digit_is_explained_without_a_carrier_request(env: BotEnv) -> None:
    await follow(env, "0500100031144")
    [answer] = env.telegram.sent()
    assert "RA067022855UA" in answer.text  # the list of accepted formats
    assert sum(env.carriers.hits.values()) == 0
    assert await env.storage.count_subscriptions(1) == 0


async def test_unregistered_number_is_saved_and_explained(env: BotEnv) -> None:
    await follow(env, UP2)
    [card] = env.telegram.sent()
    assert UP2 in card.text
    assert "Ukrposhta" in card.text or "Укрпошта" in card.text
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.not_found_since is not None


async def test_an_unregistered_number_keeps_its_label_on_the_card(env: BotEnv) -> None:
    await env.send(make_message(f"{UP2} чохол", user=make_user(1, "en")))
    [card] = env.telegram.sent()
    assert "Label: чохол" in card.text


async def test_a_parcel_never_found_reads_no_data_yet_in_the_list(env: BotEnv) -> None:
    await env.send(make_message(UP2, user=make_user(1, "en")))
    env.telegram.clear()
    await env.send(make_message("/list", user=make_user(1, "en")))
    [listing] = env.telegram.sent()
    assert "no data yet" in listing.text
    assert "not recognized" not in listing.text


async def test_a_number_beyond_the_daily_quota_waits_for_tomorrow(env: BotEnv) -> None:
    env.app.bot_data.budget.limit = 0  # GdePosylka: no new number left today
    env.carriers.set("gdeposylka", "LM951174328CN", FakeEvent("accepted", T0, "Shenzhen"))
    await env.send(make_message("LM951174328CN", user=make_user(1, "en")))
    [card] = env.telegram.sent()
    assert "quota of new numbers at GdePosylka is used up: I will ask tomorrow." in card.text
    assert env.carriers.hits["gdeposylka"] == 0
    [view] = await env.storage.list_subscriptions(1)  # saved all the same
    assert view.parcel.next_check_at is not None
    assert view.parcel.next_check_at >= next_budget_day(datetime.now(UTC))
    # The wait is not an interval: the next lookup starts from a retry's, not from a day's.
    assert view.parcel.check_interval is not None
    assert view.parcel.check_interval <= RETRY_INTERVAL * (1 + JITTER)


async def test_carrier_failure_is_an_answer_and_the_parcel_is_kept(env: BotEnv) -> None:
    env.carriers.faults["inpost"] = "500"
    await follow(env, INPOST)
    [card] = env.telegram.sent()
    assert INPOST in card.text
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.last_error is not None
    assert view.parcel.next_check_at is not None


async def test_ambiguous_number_offers_a_choice_and_remembers_it(env: BotEnv) -> None:
    env.carriers.set("gdeposylka", AMBIGUOUS, FakeEvent("delivered", T0, "Warsaw"))
    await follow(env, AMBIGUOUS)
    [question] = env.telegram.sent()
    choices = buttons(question.params)
    assert choices == [f"p:0:{AMBIGUOUS}", f"p:1:{AMBIGUOUS}"]
    env.telegram.clear()
    await env.send(make_callback(choices[0]))
    [card] = env.telegram.sent()
    assert card.text.startswith(f"UPS через GdePosylka · <b>{AMBIGUOUS}</b>")  # the pick shows
    assert env.telegram.sent("editMessageReplyMarkup")  # the answered question's buttons go
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.carrier == "gdeposylka/ups"
    assert ("gdeposylka", "ups", AMBIGUOUS) in env.carriers.requests
    # A second chooser's other answer (one an edit sent) switches carriers, keeping the label.
    await env.storage.rename_subscription(view.id, "headphones")
    await env.send(make_callback(choices[1]))
    [switched] = await env.storage.list_subscriptions(1)
    assert switched.parcel.carrier != "gdeposylka/ups"
    assert switched.label == "headphones"
    await env.send(make_callback(choices[0]))  # and back: still one parcel
    [back] = await env.storage.list_subscriptions(1)
    assert back.parcel.carrier == "gdeposylka/ups"
    env.telegram.clear()
    await follow(env, AMBIGUOUS)  # the pick is remembered: no second question
    [again] = env.telegram.sent()
    assert not any(d.startswith("p:") for d in buttons(again.params))


async def test_history_refresh_and_stop_buttons(env: BotEnv) -> None:
    await follow(env, UP)
    [view] = await env.storage.list_subscriptions(1)
    env.telegram.clear()
    await env.send(make_callback(f"h:{view.id}"))
    history = env.telegram.sent()
    assert history
    assert "DKD KYIV" in history[0].text
    env.telegram.clear()
    await env.send(make_callback(f"r:{view.id}"))  # checked moments ago: no new request
    assert env.telegram.sent("answerCallbackQuery")
    hits = env.carriers.hits["ukrposhta"]
    assert hits == 1
    env.telegram.clear()
    await env.send(make_callback(f"x:{view.id}"))
    assert await env.storage.count_subscriptions(1) == 0
    assert any(UP in t for t in env.telegram.texts())


async def test_i_have_it_archives_the_parcel_at_once(env: BotEnv) -> None:
    await env.send(make_message(UP, user=make_user(1, "en")))
    [card] = env.telegram.sent()
    [view] = await env.storage.list_subscriptions(1)
    assert f"v:{view.id}" in buttons(card.params)
    env.telegram.clear()
    await env.send(make_callback(f"v:{view.id}", user=make_user(1, "en")))
    assert await env.storage.count_subscriptions(1) == 0
    assert await env.storage.count_subscriptions(1, archived=True) == 1
    assert "Moved 0500100031143 to the archive" in env.telegram.texts(1)[-1]
    [edit] = env.telegram.sent("editMessageReplyMarkup")
    assert sorted(buttons(edit.params)) == [f"d:{view.id}", f"h:{view.id}"]  # archived card
    await env.cycle()  # no longer looked up
    assert env.carriers.hits["ukrposhta"] == 1
    for old in ("v", "x"):  # an old card's or push's "I have it" or "Stop tracking"
        env.telegram.clear()
        await env.send(make_callback(f"{old}:{view.id}", user=make_user(1, "en")))
        [answer] = env.telegram.sent("answerCallbackQuery")
        assert "in the archive" in answer.params["text"]
    assert "To delete it, open it in /archive." in answer.params["text"]
    assert await env.storage.count_subscriptions(1, archived=True) == 1  # not deleted
    await env.send(make_callback(f"d:{view.id}", user=make_user(1, "en")))  # the 🗑 Delete
    assert await env.storage.count_subscriptions(1, archived=True) == 0


GROUP = make_chat(-100, Chat.SUPERGROUP)


async def press_on_anothers_parcel(env: BotEnv, action: str) -> tuple[int, str]:
    """User 5 adds UP "for the office" in a group; user 6 presses a button of its card."""
    await env.send(
        make_message(f"/track {UP} for the office", chat=GROUP, user=make_user(5, "en"))
    )
    [view] = await env.storage.list_subscriptions(-100)
    env.telegram.clear()
    await env.send(make_callback(f"{action}:{view.id}", chat=GROUP, user=make_user(6, "en")))
    [refusal] = env.telegram.sent("answerCallbackQuery")
    return view.id, str(refusal.params)


async def test_in_a_group_only_the_adder_or_an_admin_archives(env: BotEnv) -> None:
    view_id, refusal = await press_on_anothers_parcel(env, "v")
    assert "Only the person who added this parcel or a chat admin can archive it." in refusal
    assert await env.storage.count_subscriptions(-100) == 1
    await env.send(make_callback(f"v:{view_id}", chat=GROUP, user=make_user(5, "en")))
    assert await env.storage.count_subscriptions(-100) == 0


async def test_in_a_group_only_the_adder_or_an_admin_renames(env: BotEnv) -> None:
    _, refusal = await press_on_anothers_parcel(env, "n")
    assert "Only the person who added this parcel or a chat admin can rename it." in refusal
    await env.send(make_message("bob label", chat=GROUP, user=make_user(6, "en")))
    [same] = await env.storage.list_subscriptions(-100)
    assert same.label == "for the office"


async def test_refresh_after_the_cooldown_asks_the_carrier_again(env: BotEnv) -> None:
    await follow(env, UP)
    [view] = await env.storage.list_subscriptions(1)
    await env.checked_earlier(view.parcel.id, "ready_for_pickup")
    env.carriers.add("ukrposhta", UP, FakeEvent("41000", T0 + timedelta(days=2), "ODESA 1"))
    env.telegram.clear()
    await env.send(make_callback(f"r:{view.id}"))
    assert env.carriers.hits["ukrposhta"] == 2
    [edit] = env.telegram.sent("editMessageText")
    assert "✅" in edit.text


async def test_rename_flow(env: BotEnv) -> None:
    await follow(env, UP)
    [view] = await env.storage.list_subscriptions(1)
    env.telegram.clear()
    await env.send(make_callback(f"n:{view.id}"))
    [prompt] = env.telegram.sent()
    assert "force_reply" in json.dumps(prompt.params.get("reply_markup"))
    await env.send(make_message("Подарунок мамі"))
    [renamed] = await env.storage.list_subscriptions(1)
    assert renamed.label == "Подарунок мамі"


async def test_a_number_sent_instead_of_a_name_is_followed(env: BotEnv) -> None:
    await follow(env, UP)
    [view] = await env.storage.list_subscriptions(1)
    await env.send(make_callback(f"n:{view.id}"))
    await env.send(make_message("RA067022855UA"))
    numbers = {v.parcel.number: v.label for v in await env.storage.list_subscriptions(1)}
    assert numbers == {UP: None, "RA067022855UA": None}


async def test_track_keeps_each_lines_label(env: BotEnv) -> None:
    group = make_chat(-100, Chat.SUPERGROUP)
    text = f"/track {UP} чохол\n{NP} кеди"
    await env.send(make_message(text, chat=group, user=make_user(5, "en")))
    labels = {v.parcel.number: v.label for v in await env.storage.list_subscriptions(-100)}
    assert labels == {UP: "чохол", NP: "кеди"}


async def test_a_mistyped_number_beside_a_good_one_is_named(env: BotEnv) -> None:
    await env.send(make_message(f"0500100031144 and {UP}", user=make_user(1, "en")))
    [summary] = env.telegram.sent()
    assert UP in summary.text
    assert "<code>0500100031144</code>: not a valid tracking number" in summary.text
    assert await env.storage.count_subscriptions(1) == 1


async def test_replies_name_a_labelled_parcel_in_quotes(env: BotEnv) -> None:
    await follow(env, f"{UP} shoes <b>")
    [view] = await env.storage.list_subscriptions(1)
    env.telegram.clear()
    await env.send(make_callback(f"x:{view.id}"))
    [answer] = env.telegram.sent("sendMessage")
    assert answer.text == f"Відстеження {UP} («shoes &lt;b&gt;») зупинено."


async def test_stop_accepts_a_label(env: BotEnv) -> None:
    await env.send(make_message(f"{UP} Phone case", user=make_user(1, "en")))
    env.telegram.clear()
    await env.send(make_message("/stop phone case", user=make_user(1, "en")))
    [answer] = env.telegram.sent()
    assert answer.text == f"Stopped tracking {UP}."
    assert await env.storage.count_subscriptions(1) == 0


async def test_stopall_with_nothing_to_stop_does_not_ask(env: BotEnv) -> None:
    await env.send(make_message("/stopall", user=make_user(1, "en")))
    [answer] = env.telegram.sent()
    assert answer.text.startswith("This chat follows no parcels yet.")
    assert "reply_markup" not in answer.params


async def test_rename_can_be_cancelled(env: BotEnv) -> None:
    await follow(env, UP)
    [view] = await env.storage.list_subscriptions(1)
    await env.send(make_callback(f"n:{view.id}"))
    await env.send(make_message("/cancel"))
    await env.send(make_message("not a label"))
    [same] = await env.storage.list_subscriptions(1)
    assert same.label is None


async def test_forged_callback_from_another_chat_is_refused(env: BotEnv) -> None:
    await follow(env, UP, user_id=1)
    [view] = await env.storage.list_subscriptions(1)
    env.telegram.clear()
    intruder = make_user(2)
    for action in ("h", "r", "x", "c", "n"):
        await env.send(make_callback(f"{action}:{view.id}", user=intruder))
    assert env.telegram.sent() == []  # nothing about chat 1 was shown to chat 2
    assert len(env.telegram.sent("answerCallbackQuery")) == 5
    assert await env.storage.count_subscriptions(1) == 1
    for garbage in ("x:abc", "h:99999999", "zz:1", "", "p:9:" + UP, "g:de"):
        await env.send(make_callback(garbage, user=intruder))
    assert await env.storage.count_subscriptions(1) == 1


async def test_list_is_paginated_with_buttons(env: BotEnv) -> None:
    await env.storage.upsert_chat(1, "private", "en")
    for i in range(12):
        parcel = await env.storage.get_or_create_parcel("inpost", f"{i:024d}")
        await env.storage.subscribe(1, parcel.id, f"item {i}", 1)
    await follow(env, "/list")
    [page] = env.telegram.sent()
    data = buttons(page.params)
    assert len([d for d in data if d.startswith("c:")]) == 10
    assert "l:1" in data
    env.telegram.clear()
    await env.send(make_callback("l:1"))
    [edit] = env.telegram.sent("editMessageText")
    data = buttons(edit.params)
    assert len([d for d in data if d.startswith("c:")]) == 2
    assert "l:0" in data
    env.telegram.clear()
    await env.send(make_callback(data[0]))  # open a card from the list
    [card] = env.telegram.sent()
    assert "item" in card.text


async def test_list_with_text_searches_labels_and_numbers_archive_included(env: BotEnv) -> None:
    storage = env.storage
    await storage.upsert_chat(1, "private", "en")
    await storage.upsert_chat(2, "private", "en")
    for i in range(12):
        parcel = await storage.get_or_create_parcel("inpost", f"{i:024d}")
        await storage.subscribe(1, parcel.id, f"Кросівки {i}", 1)
    gift = await storage.get_or_create_parcel("ukrposhta", UP)
    subscription = await storage.subscribe(1, gift.id, "Gift <for mum>", 1)
    await storage.archive_subscription(subscription.id)
    other = await storage.get_or_create_parcel("ukrposhta", UP2)
    await storage.subscribe(2, other.id, "gift of chat 2", 2)

    await follow(env, "/list GIFT")  # case does not matter, the archive is searched too
    [page] = env.telegram.sent()
    assert "1 parcel matches “GIFT”:" in page.text
    assert "Gift &lt;for mum&gt;" in page.text
    assert "(archive)" in page.text
    assert UP2 not in page.text  # another chat's parcel
    assert buttons(page.params) == [f"c:{subscription.id}"]
    env.telegram.clear()
    await follow(env, "/list 0500 1000 3114")  # numbers as people type them
    assert UP in env.telegram.sent()[0].text
    env.telegram.clear()
    await follow(env, "/list кросівки")
    [page] = env.telegram.sent()
    assert "12 parcels match “кросівки”:" in page.text
    assert "Only the first 10 are shown" in page.text
    assert len(buttons(page.params)) == 10
    env.telegram.clear()
    await follow(env, "/list <b>nothing")
    assert env.telegram.sent()[0].text == "None of this chat's parcels matches “&lt;b&gt;nothing”."


async def test_list_says_which_carriers_are_not_answering(env: BotEnv) -> None:
    await env.storage.upsert_chat(1, "private", "en")
    for carrier, number in (("inpost", INPOST), ("ukrposhta", UP)):
        parcel = await env.storage.get_or_create_parcel(carrier, number)
        await env.storage.subscribe(1, parcel.id, None, 1)
    await follow(env, "/list")
    assert "not answering" not in env.telegram.sent()[-1].text
    breakers = env.app.bot_data.parcels.tracking.breakers
    breakers["inpost"].opened_until = datetime.now(UTC) + timedelta(minutes=5)
    breakers["nova-poshta"].opened_until = datetime.now(UTC) + timedelta(minutes=5)
    await follow(env, "/list")
    text = env.telegram.sent()[-1].text
    assert "InPost is not answering right now: its statuses may be out of date." in text
    assert "Nova Poshta" not in text  # paused too, but none of these parcels is there


async def test_start_names_every_carrier_not_answering(env: BotEnv) -> None:
    await env.send(make_message("/start", user=make_user(1, "en")))
    assert "not answering" not in env.telegram.sent()[-1].text
    breakers = env.app.bot_data.parcels.tracking.breakers
    breakers["nova-poshta"].opened_until = datetime.now(UTC) + timedelta(minutes=5)
    breakers["inpost"].opened_until = datetime.now(UTC) + timedelta(minutes=5)
    await env.send(make_message("/start", user=make_user(1, "en")))
    text = env.telegram.sent()[-1].text
    assert text.startswith("Hi!")
    assert text.index("⚠️ InPost is not answering") < text.index("⚠️ Nova Poshta is not answering")
    assert "Ukrposhta is not" not in text


async def test_archive_lists_finished_parcels_only(env: BotEnv) -> None:
    storage = env.storage
    await storage.upsert_chat(1, "private", "en")
    await follow(env, "/archive")
    [empty] = env.telegram.sent()
    assert "The archive is empty." in empty.text
    env.telegram.clear()
    archived = []
    for i in range(12):
        parcel = await storage.get_or_create_parcel("inpost", f"{i:024d}")
        subscription = await storage.subscribe(1, parcel.id, f"item {i}", 1)
        if i != 11:  # one parcel stays current
            await storage.archive_subscription(subscription.id)
            archived.append(subscription.id)
    await follow(env, "/archive")
    [page] = env.telegram.sent()
    assert "The archive holds 11 parcels:" in page.text
    assert "item 11" not in page.text
    data = buttons(page.params)
    assert len([d for d in data if d.startswith("c:")]) == 10
    assert "a:1" in data  # the archive's own pages, not the list's
    env.telegram.clear()
    await env.send(make_callback("a:1"))
    [edit] = env.telegram.sent("editMessageText")
    [last] = [d for d in buttons(edit.params) if d.startswith("c:")]
    assert "a:0" in buttons(edit.params)
    env.telegram.clear()

    await env.send(make_callback(last))  # its card: history or delete, nothing to refresh
    [card] = env.telegram.sent()
    assert sorted(d.split(":")[0] for d in buttons(card.params)) == ["d", "h"]
    assert "This parcel is in the archive: I no longer track it." in card.text
    env.telegram.clear()
    hits = sum(env.carriers.hits.values())
    await env.send(make_callback(last.replace("c:", "r:")))  # an old card's Refresh
    assert sum(env.carriers.hits.values()) == hits
    assert env.telegram.sent("editMessageText") == []
    env.telegram.clear()
    await env.send(make_callback(last.replace("c:", "d:")))
    [deleted] = env.telegram.sent()
    assert "from the archive" in deleted.text
    assert await storage.count_subscriptions(1, archived=True) == 10
    assert await storage.count_subscriptions(1) == 1

    env.telegram.clear()
    intruder = make_user(2, "en")
    for forged in (f"c:{archived[0]}", f"d:{archived[0]}", "a:0"):  # another chat's archive
        await env.send(make_callback(forged, user=intruder))
    assert all("item" not in call.text for call in env.telegram.calls)
    assert await storage.count_subscriptions(1, archived=True) == 10


async def test_in_a_group_only_the_adder_or_an_admin_deletes_from_the_archive(
    env: BotEnv,
) -> None:
    group = make_chat(-100, Chat.SUPERGROUP)
    await env.storage.upsert_chat(group.id, group.type, "en")
    parcel = await env.storage.get_or_create_parcel("inpost", "1" * 24)
    subscription = await env.storage.subscribe(group.id, parcel.id, "gift", added_by=1)
    await env.storage.archive_subscription(subscription.id)
    await env.send(make_callback(f"d:{subscription.id}", chat=group, user=make_user(5, "en")))
    [refusal] = [c for c in env.telegram.calls if c.method == "answerCallbackQuery"]
    assert "can delete it" in str(refusal.params.get("text"))
    assert await env.storage.count_subscriptions(group.id, archived=True) == 1
    await env.send(make_callback(f"d:{subscription.id}", chat=group, user=make_user(1, "en")))
    assert await env.storage.count_subscriptions(group.id, archived=True) == 0


async def test_commands_in_private(env: BotEnv) -> None:
    for command in (
        "/start",
        "/help",
        "/privacy",
        "/language",
        "/list",
        "/archive",
        "/stop",
        "/track",
        "/cancel",
        "/nonsense",
    ):
        env.telegram.clear()
        await follow(env, command)
        assert env.telegram.sent(), command
    env.telegram.clear()
    await follow(env, f"/start {UP}")  # deep link, a number nobody follows yet
    assert await env.storage.count_subscriptions(1) == 1
    [card] = env.telegram.sent()
    assert card.text.startswith("Тепер ви відстежуєте цю посилку")
    await follow(env, f"/stop {UP}")
    assert await env.storage.count_subscriptions(1) == 0


async def test_stop_all_and_forget_ask_first(env: BotEnv) -> None:
    await follow(env, f"{UP}\n{INPOST}")
    await follow(env, "/stopall")
    await env.send(make_callback("sa:no"))
    assert await env.storage.count_subscriptions(1) == 2
    await follow(env, "/stopall")
    await env.send(make_callback("sa:yes"))
    assert await env.storage.count_subscriptions(1) == 0
    await follow(env, NP)
    await follow(env, "/forget")
    await env.send(make_callback("fg:yes"))
    assert await env.storage.get_chat(1) is None


async def test_an_edit_is_answered_only_for_what_it_changed(env: BotEnv) -> None:
    original = make_message(f"{UP} phone case", user=make_user(1, "en"))
    await env.send(original)
    env.telegram.clear()
    await env.send(make_edit(original, f"{UP}  phone case"))  # nothing new: no answer
    assert env.telegram.calls == []
    await env.send(make_edit(original, f"{UP} Phone case"))  # a capital letter: renamed
    assert (await env.storage.list_subscriptions(1))[0].label == "Phone case"
    env.telegram.clear()
    await env.send(make_edit(original, f"{UP} red phone case"))  # a new label: a line, no card
    [renamed] = env.telegram.sent()
    assert renamed.text == f"Renamed {UP} to “red phone case”."
    assert env.carriers.hits["ukrposhta"] == 1
    [view] = await env.storage.list_subscriptions(1)
    assert view.label == "red phone case"
    env.telegram.clear()
    await env.send(make_edit(original, f"{UP} red phone case\n{INPOST}"))  # a number added
    [card] = env.telegram.sent()
    assert INPOST in card.text
    assert UP not in card.text
    assert env.carriers.hits["ukrposhta"] == 1  # the followed number was not asked again


async def test_an_edit_that_corrects_a_typo_follows_the_number(env: BotEnv) -> None:
    original = make_message("0500100031144", user=make_user(1, "en"))  # wrong check digit
    await env.send(original)
    [invalid] = env.telegram.sent()
    assert "typos" in invalid.text
    env.telegram.clear()
    await env.send(make_edit(original, UP))
    [card] = env.telegram.sent()
    assert "ODESA 1" in card.text
    assert await env.storage.count_subscriptions(1) == 1
    env.telegram.clear()
    await env.send(make_edit(original, "thanks!"))  # no hint again, but the number is gone:
    [offer] = env.telegram.sent()
    assert offer.text == f"{UP} is no longer in your message, but I still follow it. Stop it?"
    [view] = await env.storage.list_subscriptions(1)
    assert buttons(offer.params) == [f"x:{view.id}"]
    env.telegram.clear()
    await env.send(make_edit(original, "thanks!!"))  # offered once
    assert env.telegram.calls == []
    await env.send(make_callback(f"x:{view.id}", user=make_user(1, "en")))
    assert await env.storage.count_subscriptions(1) == 0


async def test_an_edit_that_replaces_a_number_offers_to_stop_the_old_one(env: BotEnv) -> None:
    original = make_message(f"{NP} boots\n{INPOST} hat", user=make_user(1, "en"))
    await env.send(original)
    env.telegram.clear()
    await env.send(make_edit(original, f"{UP} boots\n{INPOST} red hat"))
    replies = env.telegram.sent()
    followed = {v.parcel.number: v for v in await env.storage.list_subscriptions(1)}
    assert replies[0].text.splitlines() == [
        f"Renamed {INPOST} to “red hat”.",
        f"{NP} (“boots”) is no longer in your message, but I still follow it. Stop it?",
    ]
    assert buttons(replies[0].params) == [f"x:{followed[NP].id}"]
    assert UP in replies[1].text  # the new number's card
    assert followed[UP].label == "boots"
    env.telegram.clear()
    await env.send(make_edit(original, f"{UP} boots\n{INPOST} red hat\n{NP}"))  # put back
    [card] = env.telegram.sent()
    assert NP in card.text
    assert await env.storage.count_subscriptions(1) == 3


async def sent_before_a_restart(env: BotEnv, text: str, archived: str) -> Update:
    """Send a message, archive one of its parcels, and forget the message as a restart does."""
    original = make_message(text, user=make_user(1, "en"))
    await env.send(original)
    views = {v.parcel.number: v for v in await env.storage.list_subscriptions(1)}
    await env.storage.archive_subscription(views[archived].id)
    env.app.chat_data[1].pop("answered_messages")  # what a restart forgets
    env.telegram.clear()
    return original


async def test_edits_after_a_restart_are_answered_once(env: BotEnv) -> None:
    original = await sent_before_a_restart(env, f"{UP} gift\n{INPOST} shoes\n{NP} hat", NP)
    await env.send(make_edit(original, f"{UP} Gift\n{INPOST} shoes\n{NP} hat"))  # case only
    [renamed] = env.telegram.sent()
    assert renamed.text == f"Renamed {UP} to “Gift”."
    env.telegram.clear()
    await env.send(make_edit(original, f"{UP} a gift\n{INPOST} shoes\n{NP} hat"))
    [renamed] = env.telegram.sent()  # the other numbers are not answered again
    assert renamed.text == f"Renamed {UP} to “a gift”."
    assert await env.storage.count_subscriptions(1, archived=True) == 1


async def test_an_edit_adding_an_archived_number_follows_it_again(env: BotEnv) -> None:
    user = make_user(1, "en")
    await env.send(make_message(f"{UP} gift", user=user))
    [view] = await env.storage.list_subscriptions(1)
    await env.storage.archive_subscription(view.id)
    other = make_message(f"{INPOST} shoes", user=user)
    await env.send(other)
    env.telegram.clear()
    await env.send(make_edit(other, f"{INPOST} shoes\n{UP} birthday"))  # as a new message would
    [card] = env.telegram.sent()
    assert UP in card.text
    labels = {v.parcel.number: v.label for v in await env.storage.list_subscriptions(1)}
    assert labels == {INPOST: "shoes", UP: "birthday"}


async def test_edited_commands_do_not_run_again(env: BotEnv) -> None:
    await follow(env, UP)
    stop_all = make_message("/stopall")
    await env.send(stop_all)
    env.telegram.clear()
    await env.send(make_edit(stop_all, "/stopall"))
    await env.send(make_edit(make_message("/list"), "/list"))
    assert env.telegram.calls == []
    await env.send(make_callback("sa:yes"))  # the first question still stands
    assert await env.storage.count_subscriptions(1) == 0


async def test_an_edit_is_not_taken_as_a_new_name(env: BotEnv) -> None:
    older = make_message("hello")
    await env.send(older)
    await follow(env, f"{UP} gift")
    [view] = await env.storage.list_subscriptions(1)
    await env.send(make_callback(f"n:{view.id}"))
    env.telegram.clear()
    await env.send(make_edit(older, "hello there"))
    assert env.telegram.calls == []
    assert (await env.storage.list_subscriptions(1))[0].label == "gift"
    await env.send(make_message("birthday gift"))  # the question still waits for its answer
    assert (await env.storage.list_subscriptions(1))[0].label == "birthday gift"


async def test_in_a_group_track_does_not_relabel_anothers_parcel(env: BotEnv) -> None:
    alice, bob, admin = make_user(5, "en"), make_user(6, "en"), make_user(7, "en")
    env.telegram.admins.add(admin.id)
    await env.send(make_message(f"/track {UP} for the office", chat=GROUP, user=alice))
    env.telegram.clear()
    await env.send(make_message(f"/track {UP} mine now", chat=GROUP, user=bob))
    [card] = env.telegram.sent()
    assert "for the office" in card.text
    assert f"{UP} keeps its label: only the person who added it or a chat admin" in card.text
    [view] = await env.storage.list_subscriptions(-100)
    assert view.label == "for the office"
    asked = make_message(f"/track {UP} mine now", chat=GROUP, user=bob)
    await env.send(asked)
    env.telegram.clear()
    await env.send(make_edit(asked, f"/track {UP} mine now\n{NP}"))  # the note is not repeated
    [card] = env.telegram.sent()
    assert UP not in card.text
    followed = {v.parcel.number: v for v in await env.storage.list_subscriptions(-100)}
    await env.storage.unsubscribe(followed[NP].id)
    await env.send(make_message(f"/track {UP}\n{INPOST} bob's", chat=GROUP, user=bob))
    assert {v.label for v in await env.storage.list_subscriptions(-100)} == {
        "for the office",
        "bob's",
    }
    await env.send(make_message(f"/track {UP} office chairs", chat=GROUP, user=admin))
    await env.send(make_message(f"/track {INPOST} still bob's", chat=GROUP, user=bob))
    assert {v.label for v in await env.storage.list_subscriptions(-100)} == {
        "office chairs",
        "still bob's",
    }


async def test_in_a_group_an_edit_renames_only_for_the_owner_or_an_admin(env: BotEnv) -> None:
    alice, bob, admin = make_user(5, "en"), make_user(6, "en"), make_user(7, "en")
    env.telegram.admins.add(admin.id)
    await env.send(make_message(f"/track {UP} for the office", chat=GROUP, user=alice))
    asked = make_message(f"/track {INPOST} bob's", chat=GROUP, user=bob)
    await env.send(asked)
    env.telegram.clear()
    await env.send(make_edit(asked, f"/track {INPOST} bob's\n{UP} FOR THE OFFICE"))
    assert env.telegram.sent() == []  # only the case differs: the owner's label stays, silently
    await env.send(make_edit(asked, f"/track {INPOST} bob's\n{UP} mine now"))
    [told] = env.telegram.sent()
    assert told.text == (
        f"{UP} keeps its label: only the person who added it or a chat admin can rename it."
    )
    env.telegram.clear()
    await env.send(make_edit(asked, f"/track {INPOST} bob's shoes\n{UP} mine now"))
    [renamed] = env.telegram.sent()  # his own parcel; the refusal is not repeated
    assert html.unescape(renamed.text) == f"Renamed {INPOST} to “bob's shoes”."
    by_admin = make_message(f"/track {UP}", chat=GROUP, user=admin)
    await env.send(by_admin)
    env.telegram.clear()
    await env.send(make_edit(by_admin, f"/track {UP} office chairs"))
    [renamed] = env.telegram.sent()
    assert renamed.text == f"Renamed {UP} to “office chairs”."
    labels = {v.parcel.number: v.label for v in await env.storage.list_subscriptions(-100)}
    assert labels == {UP: "office chairs", INPOST: "bob's shoes"}


async def test_an_edit_does_not_bring_back_a_stopped_or_archived_parcel(env: BotEnv) -> None:
    original = make_message(f"{UP} gift\n{INPOST} shoes\n{NP} hat", user=make_user(1, "en"))
    await env.send(original)
    views = {v.parcel.number: v for v in await env.storage.list_subscriptions(1)}
    await env.storage.unsubscribe(views[INPOST].id)
    await env.storage.archive_subscription(views[NP].id)
    env.telegram.clear()
    await env.send(make_edit(original, f"{UP} birthday gift\n{INPOST} shoes\n{NP} hat"))
    [renamed] = env.telegram.sent()  # only the relabelled number
    assert renamed.text == f"Renamed {UP} to “birthday gift”."
    env.telegram.clear()
    # Relabelling the stopped and the archived one in the old message does not bring them back,
    # and says so, once.
    edit = f"{UP} birthday gift\n{INPOST} red shoes\n{NP} big hat"
    await env.send(make_edit(original, edit))
    [told] = env.telegram.sent()
    assert told.text.splitlines() == [
        f"You no longer follow {number}, so its new label is not saved. Send the number in a "
        "new message to follow it again."
        for number in (INPOST, NP)
    ]
    assert [v.parcel.number for v in await env.storage.list_subscriptions(1)] == [UP]
    assert await env.storage.count_subscriptions(1, archived=True) == 1
    env.telegram.clear()
    await env.send(make_edit(original, edit.replace("birthday gift", "a gift")))
    [renamed] = env.telegram.sent()
    assert renamed.text == f"Renamed {UP} to “a gift”."


async def test_an_unchanged_edit_is_not_answered_even_with_a_rejected_token(
    env: BotEnv,
) -> None:
    original = make_message(f"{UP} gift\n0500100031144", user=make_user(1, "en"))
    await env.send(original)
    env.telegram.clear()
    await env.send(make_edit(original, f"{UP} gift\n0500100031144 "))
    assert env.telegram.calls == []
    await env.send(make_edit(original, f"{UP} gift\n0500100031144\n0500100031136"))
    [invalid] = env.telegram.sent()  # for the new mistyped number, as if sent alone
    assert "Check the number for typos" in invalid.text


async def test_an_edit_after_a_restart_is_judged_by_what_the_chat_follows(env: BotEnv) -> None:
    original = await sent_before_a_restart(env, f"{UP} gift\n{INPOST} shoes", INPOST)
    await env.send(make_edit(original, f"{UP} gift\n{INPOST} shoes\n{NP}"))
    [card] = env.telegram.sent()
    assert NP in card.text
    assert await env.storage.count_subscriptions(1, archived=True) == 1  # not brought back


async def test_an_edit_asks_again_what_was_not_followed(env: BotEnv) -> None:
    original = make_message(f"{AMBIGUOUS} old label", user=make_user(1, "en"))
    await env.send(original)  # a carrier chooser, nothing followed yet
    env.telegram.clear()
    await env.send(make_edit(original, f"{AMBIGUOUS} new label"))
    [chooser] = env.telegram.sent()
    assert "could belong to several carriers" in chooser.text
    await env.send(make_callback(f"p:0:{AMBIGUOUS}", user=make_user(1, "en")))
    [view] = await env.storage.list_subscriptions(1)
    assert view.label == "new label"
    env.telegram.clear()
    await env.send(make_edit(original, f"{AMBIGUOUS} new label\n{UP} shoes"))  # picked since
    [card] = env.telegram.sent()
    assert UP in card.text
    assert AMBIGUOUS not in card.text


async def test_edits_of_messages_sent_before_forget_are_ignored(env: BotEnv) -> None:
    original = make_message(f"{UP} gift\n{INPOST} shoes", user=make_user(1, "en"))
    await env.send(original)
    await follow(env, "/forget")
    await env.send(make_callback("fg:yes"))
    env.telegram.clear()
    await env.send(make_edit(original, f"{UP} birthday gift\n{INPOST} shoes"))
    assert env.telegram.calls == []
    assert await env.storage.get_chat(1) is None
    # Also once the bot no longer remembers the /forget (a restart), with the chat stored anew
    # by a later message: the edited message is older than the chat's new record.
    env.app.chat_data[1].clear()
    await env.send(make_edit(original, f"{UP} birthday gift"))
    assert env.telegram.calls == []
    old = Update(
        next(_media_ids),
        message=text_message(
            f"{NP} hat", make_chat(1), make_user(1, "en"), date=T0.replace(year=2025)
        ),
    )
    await env.send(make_message("hello", user=make_user(1, "en")))  # the chat is stored anew
    env.app.chat_data[1].pop("forgotten_at", None)
    env.telegram.clear()
    await env.send(make_edit(old, f"{NP} big hat"))
    assert env.telegram.calls == []
    assert await env.storage.count_subscriptions(1) == 0


async def test_edited_track_commands(env: BotEnv) -> None:
    user = make_user(5, "en")
    original = make_message(f"/Track {UP}", chat=GROUP, user=user)  # any case, as Telegram
    await env.send(original)
    env.telegram.clear()
    await env.send(make_edit(original, f"/Track {UP}\n{INPOST}"))
    [card] = env.telegram.sent()
    assert INPOST in card.text
    env.telegram.clear()
    await env.send(make_edit(original, "/track"))  # its usage text was not asked for again
    assert env.telegram.calls == []
    assert await env.storage.count_subscriptions(-100) == 2
    bare = make_message("/track", chat=GROUP, user=user)
    await env.send(bare)
    env.telegram.clear()
    await env.send(make_edit(bare, f"/track {UP}"))  # followed already, but asked for now
    [card] = env.telegram.sent()
    assert UP in card.text


async def test_in_a_group_an_archived_parcel_keeps_its_owners_label(env: BotEnv) -> None:
    alice, bob = make_user(5, "en"), make_user(6, "en")
    await env.send(make_message(f"/track {UP} for the office", chat=GROUP, user=alice))
    [view] = await env.storage.list_subscriptions(-100)
    await env.storage.archive_subscription(view.id)
    env.telegram.clear()
    await env.send(make_message(f"/track {UP} mine now", chat=GROUP, user=bob))
    [card] = env.telegram.sent()
    assert f"{UP} keeps its label: only the person who added it or a chat admin" in card.text
    [after] = await env.storage.list_subscriptions(-100)  # followed again, as asked
    assert after.label == "for the office"


def channel_post(text: str, *, edited: bool = False) -> Update:
    """Build a post (or an edited post) in a channel the bot was added to."""
    channel = Chat(-1001234, Chat.CHANNEL, title="News")
    post = text_message(
        text, channel, None, sender_chat=channel, edit_date=datetime.now(UTC) if edited else None
    )
    if edited:
        return Update(next(_media_ids), edited_channel_post=post)
    return Update(next(_media_ids), channel_post=post)


async def test_commands_in_channel_posts_are_not_answered(env: BotEnv) -> None:
    for text in (f"/help@{BOT_USERNAME}", f"/track@{BOT_USERNAME} {UP}", f"/foo@{BOT_USERNAME}"):
        await env.send(channel_post(text))
        await env.send(channel_post(text, edited=True))
    assert env.telegram.sent() == []


async def test_an_anonymous_admins_question_is_answered_by_an_admin(env: BotEnv) -> None:
    admin, member = make_user(7, "en"), make_user(6, "en")
    env.telegram.admins.add(admin.id)
    await env.send(make_message(f"/track {UP}", chat=GROUP, user=admin))
    anonymous = User(1087968824, "Group", True, username="GroupAnonymousBot")
    question = make_message("/stopall", chat=GROUP, user=anonymous, sender_chat=GROUP)
    await env.send(question)
    asked = question.message
    env.telegram.clear()
    await env.send(make_callback("sa:yes", chat=GROUP, user=member, reply_to=asked))
    [refusal] = env.telegram.sent("answerCallbackQuery")
    assert "Only chat admins can stop every parcel of a group." in str(refusal.params)
    assert await env.storage.count_subscriptions(-100) == 1
    await env.send(make_callback("sa:yes", chat=GROUP, user=admin, reply_to=asked))
    assert await env.storage.count_subscriptions(-100) == 0


async def test_groups_are_greeted_with_track_and_only_own_commands_answered(
    env: BotEnv,
) -> None:
    user = make_user(5, "en")
    await env.send(make_message(f"/help@{BOT_USERNAME}", chat=GROUP, user=user))
    [group_help] = env.telegram.sent()
    assert group_help.text.startswith("<b>How to use me in a group</b>")
    assert "Send a tracking number" not in group_help.text
    assert "/stopall – stop following every parcel" in group_help.text
    env.telegram.clear()
    await env.send(make_message(f"/start@{BOT_USERNAME}", chat=GROUP, user=user))
    [greeting] = env.telegram.sent()
    assert "/track NUMBER" in greeting.text
    assert "Send me a tracking number" not in greeting.text
    env.telegram.clear()
    await env.send(make_message("/weather", chat=GROUP, user=user))  # maybe another bot's
    await env.send(make_message("/weather@other_bot", chat=GROUP, user=user))
    assert env.telegram.calls == []
    await env.send(make_message(f"/weather@{BOT_USERNAME}, please", chat=GROUP, user=user))
    [unknown] = env.telegram.sent()
    assert "I do not know this command" in unknown.text


async def test_only_the_asker_answers_a_groups_stop_all_question(env: BotEnv) -> None:
    admin, member = make_user(7, "en"), make_user(6, "en")
    env.telegram.admins.add(admin.id)
    await env.send(make_message(f"/track {UP}", chat=GROUP, user=admin))
    asked = make_message("/stopall", chat=GROUP, user=admin)
    await env.send(asked)
    env.telegram.clear()
    question = {"chat": GROUP, "reply_to": asked.message}
    await env.send(make_callback("sa:yes", user=member, **question))  # type: ignore[arg-type]
    [alert] = env.telegram.sent("answerCallbackQuery")
    assert "Only the person who asked can answer this question." in str(alert.params)
    assert await env.storage.count_subscriptions(-100) == 1
    await env.send(make_callback("sa:yes", user=admin, **question))  # type: ignore[arg-type]
    assert await env.storage.count_subscriptions(-100) == 0
    env.telegram.clear()
    await env.send(make_callback("sa:yes", user=admin, **question))  # type: ignore[arg-type]
    [expired] = env.telegram.sent("answerCallbackQuery")
    assert "This button is no longer valid." in str(expired.params)


async def test_group_commands_are_answered_as_replies(env: BotEnv) -> None:
    group = make_chat(-100, Chat.SUPERGROUP)
    alice, bob, admin = make_user(11), make_user(12), make_user(13)
    env.telegram.admins.add(admin.id)
    await env.send(
        make_message(f"/track@{BOT_USERNAME} {UP} for the office", chat=group, user=alice)
    )
    [card] = env.telegram.sent()
    assert "reply_parameters" in card.params
    [view] = await env.storage.list_subscriptions(-100)
    assert view.added_by == alice.id
    assert view.label == "for the office"
    env.telegram.clear()
    await env.send(make_message(f"/track@other_bot {INPOST}", chat=group, user=alice))
    await env.send(make_message(f"{INPOST}", chat=group, user=alice))  # plain text: ignored
    assert env.telegram.calls == []
    replied = make_message(f"Номер {NP}", chat=group, user=bob).message
    await env.send(make_message("/track", chat=group, user=alice, reply_to=replied))
    assert await env.storage.count_subscriptions(-100) == 2
    env.telegram.clear()
    await env.send(make_callback(f"x:{view.id}", chat=group, user=bob))  # not the adder
    assert await env.storage.count_subscriptions(-100) == 2
    await env.send(make_callback(f"x:{view.id}", chat=group, user=admin))
    assert await env.storage.count_subscriptions(-100) == 1
    await env.send(make_message("/language", chat=group, user=bob))
    await env.send(make_callback("g:ru", chat=group, user=bob))
    assert (await env.storage.get_chat(-100)).language == "uk"
    await env.send(make_callback("g:ru", chat=group, user=admin))
    assert (await env.storage.get_chat(-100)).language == "ru"


async def test_language_switch_changes_every_string(env: BotEnv) -> None:
    texts = {}
    for language in ("uk", "en", "ru"):
        await env.send(make_callback(f"g:{language}"))
        env.telegram.clear()
        await follow(env, "/help")
        await follow(env, UP)
        texts[language] = env.telegram.texts()
    assert texts["uk"] != texts["en"] != texts["ru"]
    assert "Ready for pickup" in texts["en"][1]
    assert (
        "Готово до отримання" in texts["uk"][1]
        or "Готова до" in texts["uk"][1]
        or ("отрим" in texts["uk"][1])
    )
    assert "Ready for pickup" not in texts["uk"][1]
    assert "Ready for pickup" not in texts["ru"][1]


async def test_new_chat_language_comes_from_telegram(env: BotEnv) -> None:
    for user_id, code, expected in (
        (21, "uk", "uk"),
        (22, "ru", "ru"),
        (23, "be", "ru"),
        (24, "pl", "en"),
        (25, None, "uk"),
    ):
        await env.send(make_message("/start", user=make_user(user_id, code)))
        assert (await env.storage.get_chat(user_id)).language == expected


async def test_blocking_the_bot_marks_the_chat(env: BotEnv) -> None:
    await follow(env, UP)
    user = make_user(1)
    await env.send(make_membership(make_chat(1), user, blocked=True))
    assert (await env.storage.get_chat(1)).blocked
    await env.send(make_membership(make_chat(1), user, blocked=False, was_blocked=True))
    assert not (await env.storage.get_chat(1)).blocked


async def test_limits_are_clear_messages(tmp_path: Path) -> None:
    async with running_bot(
        tmp_path, MAX_PARCELS_PER_CHAT="1", MAX_NUMBERS_PER_MESSAGE="2"
    ) as bot_env:
        await bot_env.send(make_message(f"{UP} {INPOST} {NP}"))
        [summary] = bot_env.telegram.sent()
        assert "1" in summary.text
        assert await bot_env.storage.count_subscriptions(1) == 1
        assert NP not in summary.text.split("\n")[1]
    async with running_bot(tmp_path / "edits", MAX_NUMBERS_PER_MESSAGE="2") as bot_env:
        original = make_message(f"{UP}\n{INPOST}", user=make_user(1, "en"))
        await bot_env.send(original)
        bot_env.telegram.clear()
        # A number put first pushes one over the cap: nothing is said to be taken out.
        await bot_env.send(make_edit(original, f"{NP}\n{UP}\n{INPOST}"))
        assert all("no longer in your message" not in t for t in bot_env.telegram.texts())


async def test_group_upgrade_moves_its_parcels(env: BotEnv) -> None:
    group = make_chat(-200, Chat.GROUP)
    await env.send(make_message(f"/track {UP} shared", chat=group, user=make_user(31)))
    assert await env.storage.count_subscriptions(-200) == 1
    upgrade = make_message("x", chat=group, user=make_user(31))
    notice = upgrade.message.to_dict()
    notice.pop("text")
    notice.pop("entities", None)
    notice["migrate_to_chat_id"] = -100200
    await env.send(Update.de_json({"update_id": 1, "message": notice}, env.app.bot))
    assert await env.storage.count_subscriptions(-200) == 0
    assert await env.storage.count_subscriptions(-100200) == 1


async def test_an_unknown_format_can_be_asked_of_the_detection_service(env: BotEnv) -> None:
    number = "AB1234567890XY"  # no offline rule knows it
    await env.send(make_message(f"where is {number} now", user=make_user(1, "en")))
    [offer] = env.telegram.sent()
    assert "detection service may" in offer.text
    assert buttons(offer.params) == [f"dt:{number}"]
    assert sum(env.carriers.hits.values()) == 0  # asking costs quota: only on request
    env.telegram.clear()

    env.carriers.set("gdeposylka", number, FakeEvent("accepted", T0, "Shenzhen"))
    await env.send(make_callback(f"dt:{number}", user=make_user(1, "en")))
    [card] = env.telegram.sent()
    assert number in card.text
    assert "Shenzhen" in card.text
    assert env.carriers.hits["gdeposylka-detect"] == 1
    [view] = await env.storage.list_subscriptions(1)
    assert view.parcel.carrier == "gdeposylka/china-post"
    env.telegram.clear()
    await env.send(make_callback(f"dt:{number}", user=make_user(1, "en")))  # pressed again
    assert env.carriers.hits["gdeposylka-detect"] == 1
    assert env.telegram.sent() == []


async def test_detection_buttons_cannot_be_forged_and_unknown_numbers_are_said_so(
    env: BotEnv,
) -> None:
    await env.send(make_callback("dt:ZZ9876543210QQ", user=make_user(1, "en")))  # never offered
    assert env.carriers.hits["gdeposylka-detect"] == 0
    await env.send(make_message("ZZ9876543210QQ", user=make_user(1, "en")))
    env.telegram.clear()
    await env.send(make_callback("dt:ZZ9876543210QQ", user=make_user(1, "en")))
    [answer] = env.telegram.sent()
    assert "does not know ZZ9876543210QQ either" in answer.text
    assert await env.storage.count_subscriptions(1) == 0


async def test_no_detection_offer_without_gdeposylka(tmp_path: Path) -> None:
    async with running_bot(tmp_path, GDEPOSYLKA_TOKEN="") as env:
        await env.send(make_message("AB1234567890XY", user=make_user(1, "en")))
        [plain] = env.telegram.sent()
        assert buttons(plain.params) == []


async def test_no_detection_offer_for_a_typo_or_without_quota(env: BotEnv) -> None:
    await env.send(make_message("0500100031144", user=make_user(1, "en")))  # check digit
    [typo] = env.telegram.sent()
    assert "That does not look like a tracking number" in typo.text
    assert buttons(typo.params) == []
    env.telegram.clear()
    env.app.bot_data.budget.limit = 0  # no new number left today: a button would disappoint
    await env.send(make_message("AB1234567890XY", user=make_user(1, "en")))
    [plain] = env.telegram.sent()
    assert buttons(plain.params) == []


async def test_detection_keeps_the_label_and_tells_an_empty_quota(env: BotEnv) -> None:
    env.carriers.set("gdeposylka", "AB1234567890XY", FakeEvent("accepted", T0, "Shenzhen"))
    await env.send(make_message("AB1234567890XY phone case", user=make_user(1, "en")))
    await env.send(make_message("CD1234567890XY", user=make_user(1, "en")))
    await env.send(make_callback("dt:AB1234567890XY", user=make_user(1, "en")))
    [view] = await env.storage.list_subscriptions(1)
    assert view.label == "phone case"
    env.telegram.clear()
    env.app.bot_data.budget.limit = 1  # used up by AB… meanwhile
    await env.send(make_callback("dt:CD1234567890XY", user=make_user(1, "en")))
    [answer] = env.telegram.sent()
    assert "quota of the carrier detection service is used up" in answer.text
    assert await env.storage.count_subscriptions(1) == 1


async def test_only_the_latest_offers_stay_valid(env: BotEnv) -> None:
    numbers = [f"AB{n:010d}XY" for n in range(25)]
    for number in numbers:
        await env.send(make_message(number, user=make_user(1, "en")))
    env.telegram.clear()
    await env.send(make_callback(f"dt:{numbers[0]}", user=make_user(1, "en")))  # too old
    [refusal] = [c for c in env.telegram.calls if c.method == "answerCallbackQuery"]
    assert "send the number again" in str(refusal.params.get("text"))
    assert env.carriers.hits["gdeposylka-detect"] == 0
    await env.send(make_callback(f"dt:{numbers[-1]}", user=make_user(1, "en")))
    assert env.carriers.hits["gdeposylka-detect"] == 1


async def test_a_shared_deep_link_follows_the_parcel_with_its_carrier(env: BotEnv) -> None:
    number = "AB1234567890XY"
    env.carriers.set("gdeposylka", number, FakeEvent("accepted", T0, "Shenzhen"))
    await env.send(make_message(number, user=make_user(1, "en")))
    await env.send(make_callback(f"dt:{number}", user=make_user(1, "en")))
    env.telegram.clear()
    await env.send(make_message(f"/start {number}", user=make_user(9, "en")))  # "Track it too"
    [card] = env.telegram.sent()
    assert card.text.startswith("You now follow this parcel: I will write when its status")
    assert "Shenzhen" in card.text
    env.telegram.clear()
    await env.send(make_message(f"/start {number}", user=make_user(9, "en")))  # tapped again
    [again] = env.telegram.sent()
    assert again.text.startswith("You already follow this parcel.")
    [view] = await env.storage.list_subscriptions(9)
    assert view.parcel.carrier == "gdeposylka/china-post"
    assert env.carriers.hits["gdeposylka-detect"] == 1  # no second detection


async def test_two_people_renaming_in_a_group_keep_to_their_own_parcels(env: BotEnv) -> None:
    group = make_chat(-100, Chat.SUPERGROUP)
    alice, bob = make_user(11, "en"), make_user(12, "en")
    await env.send(make_message(f"/track {UP}", chat=group, user=alice))
    await env.send(make_message(f"/track {INPOST}", chat=group, user=bob))
    views = {v.parcel.number: v for v in await env.storage.list_subscriptions(-100)}
    await env.send(make_callback(f"n:{views[UP].id}", chat=group, user=alice))
    await env.send(make_callback(f"n:{views[INPOST].id}", chat=group, user=bob))
    await env.send(make_message("alice's", chat=group, user=alice))
    await env.send(make_message("bob's", chat=group, user=bob))
    labels = {v.parcel.number: v.label for v in await env.storage.list_subscriptions(-100)}
    assert labels == {UP: "alice's", INPOST: "bob's"}


async def test_forget_also_clears_what_the_bot_remembers(env: BotEnv) -> None:
    await follow(env, f"{AMBIGUOUS} secret label")  # the chooser keeps the label in memory
    assert env.app.chat_data[1].get("labels")
    await follow(env, "/forget")
    await env.send(make_callback("fg:yes"))
    assert "labels" not in env.app.chat_data[1]
    assert await env.storage.get_chat(1) is None


async def test_anonymous_group_admins_are_admins(env: BotEnv) -> None:
    group = make_chat(-100, Chat.SUPERGROUP)
    anonymous = User(1087968824, "Group", True, username="GroupAnonymousBot")
    await env.storage.upsert_chat(-100, Chat.SUPERGROUP, "en")
    await env.send(make_message(f"/track {UP}", chat=group, user=make_user(5, "en")))
    env.telegram.clear()
    message = Message(
        7001,
        datetime.now(UTC),
        group,
        from_user=anonymous,
        sender_chat=group,  # Telegram's mark of an admin writing as the group
        text="/stopall",
        entities=[MessageEntity(MessageEntity.BOT_COMMAND, 0, 8)],
    )
    await env.send(Update(7002, message=message))
    [question] = env.telegram.sent()
    assert "sa:yes" in buttons(question.params)


async def test_flows_start_over_and_cancel_outside_them_is_answered(env: BotEnv) -> None:
    await follow(env, UP)
    env.telegram.clear()
    await follow(env, "/stopall")
    await follow(env, "/stopall")  # again within the flow: the question again
    first, second = env.telegram.sent()
    assert buttons(first.params) == buttons(second.params) == ["sa:yes", "sa:no"]
    await follow(env, "/cancel")
    env.telegram.clear()
    await follow(env, "/cancel")
    [nothing] = env.telegram.sent()
    assert "nothing to cancel" in nothing.text.lower() or "Немає" in nothing.text


async def test_a_long_message_is_parsed_off_the_loop_with_the_same_result() -> None:
    from bot.handlers.tracking import LONG_TEXT, parse_text
    from bot.requests import parse_message

    text = "Ваше замовлення відправлено. " * (LONG_TEXT // 20) + f"ТТН {NP}, {UP}"
    assert len(text) > LONG_TEXT
    assert await parse_text(text, 20) == parse_message(text, 20)
    assert [r.number for r in (await parse_text(text, 20)).requests] == [NP, UP]


async def test_a_card_after_a_failed_lookup_says_the_attempt_failed(env: BotEnv) -> None:
    env.carriers.faults["ukrposhta"] = "500"
    await env.send(make_message(UP, user=make_user(1, "en")))
    [card] = env.telegram.sent()
    assert "is not answering right now" in card.text
    assert "failed; next try about " in card.text.splitlines()[-1]
    assert card.text.endswith("(Kyiv time).</i>")


async def test_in_a_group_only_who_may_stop_a_parcel_is_offered_to(env: BotEnv) -> None:
    alice, bob = make_user(5, "en"), make_user(6, "en")
    await env.send(make_message(f"/track {UP} office", chat=GROUP, user=alice))
    asked = make_message(f"/track {UP}\n{INPOST} bob's", chat=GROUP, user=bob)
    await env.send(asked)
    env.telegram.clear()
    await env.send(make_edit(asked, "/track nothing here"))  # both numbers taken out
    [offer] = env.telegram.sent()
    assert offer.text.startswith(f"{INPOST} (“bob's”) is no longer in your message")
    assert UP not in offer.text  # alice's parcel: bob could not stop it
    [view] = [v for v in await env.storage.list_subscriptions(-100) if v.parcel.number == INPOST]
    assert buttons(offer.params) == [f"x:{view.id}"]


async def test_an_old_button_of_a_stopped_parcel_never_acts_on_another(env: BotEnv) -> None:
    user = make_user(1, "en")
    await env.send(make_message(UP, user=user))
    [old] = await env.storage.list_subscriptions(1)
    await env.send(make_callback(f"x:{old.id}", user=user))  # stopped: its id is freed
    await env.send(make_message(f"{NP} boots", user=user))
    [new] = await env.storage.list_subscriptions(1)
    assert new.id != old.id
    env.telegram.clear()
    await env.send(make_callback(f"x:{old.id}", user=user))  # the old card's Stop again
    [answer] = env.telegram.sent("answerCallbackQuery")
    assert "This button is out of date" in answer.params["text"]
    assert await env.storage.count_subscriptions(1) == 1  # the new parcel is still followed


async def test_summary_buttons_tell_parcels_apart(env: BotEnv) -> None:
    text = f"{UP} Замовлення №123456789 Rozetka\n{NP} Замовлення №123456799 Rozetka"
    await env.send(make_message(text, user=make_user(1, "en")))
    [summary] = env.telegram.sent()
    names = [b["text"] for row in keyboard(summary.params) for b in row]
    assert names == [f"📄 Замовлення… · {UP[-4:]}", f"📄 Замовлення… · {NP[-4:]}"]


async def test_a_used_up_quota_is_no_failed_attempt_on_the_card(env: BotEnv) -> None:
    env.app.bot_data.budget.limit = 0  # no new GdePosylka number today
    await env.send(make_message("/track LM951174328CN", user=make_user(1, "en")))
    [card] = env.telegram.sent()
    assert "quota" in card.text
    footer = card.text.splitlines()[-1]
    assert footer.startswith("<i>Checked ")
    assert "next check about" in footer
    [view] = await env.storage.list_subscriptions(1)
    env.telegram.clear()
    await env.send(make_callback(f"c:{view.id}", user=make_user(1, "en")))  # opened again
    [again] = env.telegram.sent()
    assert "quota" in again.text
    assert again.text.splitlines()[-1].startswith("<i>Checked ")


async def test_list_puts_and_says_parcels_waiting_for_you_first(env: BotEnv) -> None:
    # UP and NP are ready for pickup in the fake carriers; UP2, added last, is not registered.
    for number in (UP, NP, UP2):
        await env.send(make_message(number, user=make_user(1, "en")))
    env.telegram.clear()
    await env.send(make_message("/list", user=make_user(1, "en")))
    [listing] = env.telegram.sent()
    lines = listing.text.splitlines()
    assert lines[0] == "This chat follows 3 parcels; those waiting for you come first:"
    assert [number for line in lines[2:5] for number in (UP, NP, UP2) if number in line] == [
        NP,
        UP,
        UP2,
    ]


async def test_an_old_delete_button_never_stops_a_parcel_followed_again(env: BotEnv) -> None:
    user = make_user(1, "en")
    await env.send(make_message(UP, user=user))
    [view] = await env.storage.list_subscriptions(1)
    await env.send(make_callback(f"v:{view.id}", user=user))  # to the archive
    await env.send(make_message(UP, user=user))  # followed again: the same subscription
    env.telegram.clear()
    await env.send(make_callback(f"d:{view.id}", user=user))  # the archived card's 🗑
    [answer] = env.telegram.sent("answerCallbackQuery")
    assert "no longer in the archive" in answer.params["text"]
    assert await env.storage.count_subscriptions(1) == 1
