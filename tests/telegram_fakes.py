"""A recording Bot API request class and builders for fake updates."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from typing import Any

from telegram import (
    CallbackQuery,
    Chat,
    ChatMemberBanned,
    ChatMemberMember,
    ChatMemberUpdated,
    InlineQuery,
    Message,
    MessageEntity,
    Update,
    User,
)
from telegram.request import BaseRequest, RequestData

BOT_ID = 999
BOT_USERNAME = "parcel_test_bot"
_ids = count(1000)
# What Telegram marks as a command: "/name" or "/name@bot", up to the first other character.
COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{1,32})?")


@dataclass
class Call:
    """One Bot API method call the bot made."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)  # uploads, by field name
    result: Any = None  # what the fake answered (e.g. the sent message)

    @property
    def text(self) -> str:
        """Return the text of a send or edit call."""
        return str(self.params.get("text", ""))


@dataclass
class RecordingRequest(BaseRequest):
    """Answers the Bot API offline and records every call."""

    calls: list[Call] = field(default_factory=list)
    admins: set[int] = field(default_factory=set)  # user ids that get_chat_member calls admin
    failures: dict[str, Exception] = field(default_factory=dict)  # method -> exception to raise
    blocked: set[int] = field(default_factory=set)  # chats whose sendMessage answers 403
    refuse_replies: bool = False  # sendMessage with reply_parameters answers 400
    downloads: dict[str, bytes] = field(default_factory=dict)  # file_id -> the file's bytes

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        if method == "GET" and "/file/bot" in url:  # a file download (getFile's file_path)
            self.calls.append(Call("download", {"url": url}))
            return 200, self.downloads.get(name.split(".", 1)[0], b"not a picture")
        params = dict(request_data.parameters) if request_data else {}
        files: dict[str, bytes] = {}
        if request_data is not None and request_data.contains_files:
            for field_name, part in (request_data.multipart_data or {}).items():
                files[field_name] = part[1] if isinstance(part, tuple) else part
        self.calls.append(Call(name, params, files))
        if name in self.failures:
            raise self.failures[name]
        if name == "sendMessage" and self.refuse_replies and "reply_parameters" in params:
            body = {"ok": False, "error_code": 400, "description": "Bad Request: reply refused"}
            return 400, json.dumps(body).encode()
        if name == "sendMessage" and int(params.get("chat_id", 0)) in self.blocked:
            body = {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            }
            return 403, json.dumps(body).encode()
        self.calls[-1].result = result = self._result(name, params)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _result(self, name: str, params: dict[str, Any]) -> Any:
        if name == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Parcel",
                "username": BOT_USERNAME,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if name in {"sendMessage", "editMessageText", "sendDocument"}:
            chat_id = int(params.get("chat_id", 1))
            return {
                "message_id": next(_ids),
                "date": int(datetime.now(UTC).timestamp()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                "text": params.get("text", ""),
            }
        if name == "getFile":
            file_id = str(params["file_id"])
            return {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(self.downloads.get(file_id, b"not a picture")),
                "file_path": f"photos/{file_id}.jpg",
            }
        if name == "getChatMember":
            user_id = int(params["user_id"])
            status = "administrator" if user_id in self.admins else "member"
            member: dict[str, Any] = {
                "status": status,
                "user": {"id": user_id, "is_bot": False, "first_name": "U"},
            }
            if status == "administrator":
                member.update(
                    can_be_edited=False,
                    is_anonymous=False,
                    can_manage_chat=True,
                    can_delete_messages=True,
                    can_manage_video_chats=True,
                    can_restrict_members=True,
                    can_promote_members=False,
                    can_change_info=True,
                    can_invite_users=True,
                    can_post_stories=False,
                    can_edit_stories=False,
                    can_delete_stories=False,
                )
            return member
        return True

    def sent(self, method: str = "sendMessage") -> list[Call]:
        """Return the calls of one method."""
        return [c for c in self.calls if c.method == method]

    def texts(self, chat_id: int | None = None) -> list[str]:
        """Return the texts sent or edited, optionally for one chat."""
        return [
            c.text
            for c in self.calls
            if c.method in {"sendMessage", "editMessageText"}
            and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)
        ]

    def clear(self) -> None:
        """Forget the calls recorded so far."""
        self.calls.clear()


def make_user(user_id: int = 1, language: str | None = "uk") -> User:
    """Build a Telegram user."""
    return User(user_id, "Olena", False, language_code=language)


def make_chat(chat_id: int = 1, kind: str = Chat.PRIVATE) -> Chat:
    """Build a private chat (positive id) or a group (negative id)."""
    return Chat(chat_id, kind, title=None if kind == Chat.PRIVATE else "Family")


def text_message(
    text: str,
    chat: Chat,
    user: User | None,
    *,
    message_id: int | None = None,
    date: datetime | None = None,
    edit_date: datetime | None = None,
    sender_chat: Chat | None = None,
    reply_to: Message | None = None,
    via_bot: User | None = None,
) -> Message:
    """Build a text message; a leading command gets its entity like Telegram adds it."""
    command = COMMAND.match(text)
    return Message(
        next(_ids) if message_id is None else message_id,
        date or datetime.now(UTC),
        chat,
        from_user=user,
        sender_chat=sender_chat,
        text=text,
        entities=[MessageEntity(MessageEntity.BOT_COMMAND, 0, command.end())] if command else [],
        reply_to_message=reply_to,
        via_bot=via_bot,
        edit_date=edit_date,
    )


def make_message(
    text: str,
    *,
    chat: Chat | None = None,
    user: User | None = None,
    reply_to: Message | None = None,
    via_bot: User | None = None,
    sender_chat: Chat | None = None,
) -> Update:
    """Build a text message update (``sender_chat``: an anonymous admin's, in a group)."""
    user = user or make_user()
    chat = chat or make_chat(user.id)
    message = text_message(
        text, chat, user, reply_to=reply_to, via_bot=via_bot, sender_chat=sender_chat
    )
    return Update(next(_ids), message=message)


def make_edit(original: Update, text: str) -> Update:
    """Build the edit of a message sent before: same message, new text."""
    message = original.message
    assert message is not None
    edited = text_message(
        text,
        message.chat,
        message.from_user,
        message_id=message.message_id,
        date=message.date,
        edit_date=datetime.now(UTC),
    )
    return Update(next(_ids), edited_message=edited)


def make_callback(
    data: str,
    *,
    chat: Chat | None = None,
    user: User | None = None,
    message_text: str = "card",
    reply_to: Message | None = None,
) -> Update:
    """Build a button press on a message the bot sent to the chat (maybe replying to one)."""
    user = user or make_user()
    chat = chat or make_chat(user.id)
    bot_user = User(BOT_ID, "Parcel", True, username=BOT_USERNAME)
    message = Message(
        next(_ids),
        datetime.now(UTC),
        chat,
        from_user=bot_user,
        text=message_text,
        reply_to_message=reply_to,
    )
    query = CallbackQuery(str(next(_ids)), user, "instance", data=data, message=message)
    return Update(next(_ids), callback_query=query)


def make_inline_query(text: str, *, user: User | None = None, offset: str = "") -> Update:
    """Build an inline query (``@bot text`` typed in any chat)."""
    query = InlineQuery(str(next(_ids)), user or make_user(), text, offset)
    return Update(next(_ids), inline_query=query)


def make_membership(chat: Chat, user: User, *, blocked: bool, was_blocked: bool = False) -> Update:
    """Build a my_chat_member update: the user blocked (or unblocked) the bot."""
    bot_user = User(BOT_ID, "Parcel", True, username=BOT_USERNAME)
    now = datetime.now(UTC)
    old = ChatMemberBanned(bot_user, now) if was_blocked else ChatMemberMember(bot_user)
    new = ChatMemberBanned(bot_user, now) if blocked else ChatMemberMember(bot_user)
    change = ChatMemberUpdated(chat, user, now, old, new)
    return Update(next(_ids), my_chat_member=change)
