"""A small Bot API server on loopback, for tests that run the bot as a real process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from aiohttp import web

BOT_USER = {
    "id": 999,
    "is_bot": True,
    "first_name": "Parcel",
    "username": "parcel_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass
class FakeBotApi:
    """Queues updates for getUpdates and records every other method call."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)  # chat ids that answer 403
    migrated: dict[int, int] = field(default_factory=dict)  # old chat id -> new chat id
    retry_after: dict[int, int] = field(default_factory=dict)  # chat id -> seconds, once
    fail_get_updates: int = 0  # answer getUpdates with 502 this many times
    _ids: Any = field(default_factory=lambda: count(1))
    _new_update: asyncio.Event | None = None
    _next_update_id: int = 1

    def app(self) -> web.Application:
        """Build the aiohttp application answering /bot<token>/<method>."""
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        return app

    def push(self, update: dict[str, Any]) -> None:
        """Queue an update (its update_id is assigned here)."""
        update = {**update, "update_id": self._next_update_id}
        self._next_update_id += 1
        self.updates.append(update)
        if self._new_update is not None:
            self._new_update.set()

    def push_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        language: str = "uk",
        chat_type: str = "private",
    ) -> None:
        """Queue a text message from a user."""
        user_id = user_id if user_id is not None else chat_id
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type != "private":
            chat["title"] = "Group"
        self.push(
            {
                "message": {
                    "message_id": next(self._ids),
                    "date": int(time.time()),
                    "chat": chat,
                    "from": {
                        "id": user_id,
                        "is_bot": False,
                        "first_name": "U",
                        "language_code": language,
                    },
                    "text": text,
                    "entities": entities,
                }
            }
        )

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        """Return the parameters of every call of one method."""
        return [params for name, params in self.calls if name == method]

    def texts(self, chat_id: int | None = None) -> list[str]:
        """Return the texts sent, optionally to one chat."""
        return [
            str(p.get("text", ""))
            for p in self.sent()
            if chat_id is None or int(p.get("chat_id", 0)) == chat_id
        ]

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        if request.content_type == "application/json":
            return dict(await request.json())
        data = await request.post()
        params: dict[str, Any] = {}
        for key, value in data.items():
            text = str(value)
            try:
                params[key] = json.loads(text)
            except ValueError:
                params[key] = text
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        if method == "getUpdates":
            return await self._get_updates(params)
        self.calls.append((method, params))
        chat_id = int(params["chat_id"]) if "chat_id" in params else None
        if chat_id is not None and method == "sendMessage":
            if chat_id in self.blocked:
                return _error(403, "Forbidden: bot was blocked by the user")
            if chat_id in self.migrated:
                return _error(
                    400,
                    "Bad Request: group chat was upgraded to a supergroup chat",
                    {"migrate_to_chat_id": self.migrated[chat_id]},
                )
            if chat_id in self.retry_after:
                return _error(
                    429,
                    "Too Many Requests: retry later",
                    {"retry_after": self.retry_after.pop(chat_id)},
                )
        return web.json_response({"ok": True, "result": self._result(method, params)})

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        if self.fail_get_updates > 0:
            self.fail_get_updates -= 1
            return web.Response(status=502, text="Bad Gateway")
        offset = int(params.get("offset") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates:
            self._new_update = asyncio.Event()
            timeout = min(float(params.get("timeout") or 0), 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout)
        return web.json_response({"ok": True, "result": self.updates[:100]})

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in {"sendMessage", "editMessageText"}:
            chat_id = int(params.get("chat_id", 0))
            return {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                "from": BOT_USER,
                "text": params.get("text", ""),
            }
        if method == "getChatMember":
            return {
                "status": "member",
                "user": {"id": int(params["user_id"]), "is_bot": False, "first_name": "U"},
            }
        return True


def _error(
    status: int, description: str, parameters: dict[str, Any] | None = None
) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
