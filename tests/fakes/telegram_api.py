"""A fake Telegram Bot API server speaking the real wire protocol, for offline tests.

The real python-telegram-bot client (HTTPXRequest) talks to it over HTTP on 127.0.0.1:
`POST {base_url}{token}/{method}` with a form-encoded body (each non-string value JSON-encoded,
as PTB sends it), a multipart body (when a file is uploaded), or a JSON body. Answers are
`{"ok": true, "result": ...}` with results PTB can de_json (a sent message is a full Message),
or Telegram's error shape `{"ok": false, "error_code", "description", "parameters"}`.

It answers getMe, sendMessage, sendPhoto, answerCallbackQuery, editMessageReplyMarkup,
setWebhook, deleteWebhook, getWebhookInfo, setMyCommands and getUpdates (a long poll over a
queue that tests push updates into), and refuses what Telegram refuses and Bijli could get
wrong: an empty or over-long text or caption, callback_data over 64 bytes, a webhook URL that
is not https, getUpdates while a webhook is set. Every call is recorded (method and decoded
parameters) for assertions, and tests can make the next call for a chat fail as Telegram does
when the user blocked the bot (403) or the bot is over a flood limit (429 with retry_after).

The server runs in a background thread with its own event loop, so tests of any kind (async
tests, or the synchronous CLI running its own `asyncio.run`) can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.threaded_server import bound_listener, serving_in_thread

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
BOT_USER = {
    "id": 123456789, "is_bot": True, "first_name": "Bijli", "username": "BijliTestBot",
    "can_join_groups": False, "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Parameters sent as JSON inside a form field (PTB json-encodes every non-string value).
JSON_FIELDS = {"reply_markup", "allowed_updates", "commands", "scope", "entities",
               "caption_entities", "link_preview_options", "reply_parameters"}
INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "max_connections",
              "cache_time", "message_thread_id"}
BOOL_FIELDS = {"drop_pending_updates", "show_alert", "disable_notification", "protect_content"}
LONG_POLL_CAP = 5.0  # seconds a getUpdates may wait, whatever timeout it asks for
WAIT_LIMIT = 10.0  # seconds `wait_for` waits before failing the test


@dataclass(frozen=True)
class ApiCall:
    method: str
    params: dict[str, Any]

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")


@dataclass(frozen=True)
class UploadedFile:
    filename: str | None
    content: bytes


class ApiError(Exception):
    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"ok": False, "error_code": self.code,
                                "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return JSONResponse(body, status_code=self.code)


BLOCKED = ApiError(403, "Forbidden: bot was blocked by the user")


class FakeTelegramAPI:
    """The fake server's state and its HTTP app. Use through the `fake_telegram` fixture."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.port: int | None = None
        self._lock = threading.Lock()
        self._recorded = threading.Condition(self._lock)  # notified on every call
        self._serving: contextlib.ExitStack | None = None
        self._closing = False
        self.reset()
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint,
                                           methods=["POST", "GET"])])

    # --- for tests ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What PTB takes as `base_url` (TELEGRAM_API_BASE_URL): the token is appended."""
        return f"http://127.0.0.1:{self.port}/bot"

    def reset(self) -> None:
        with self._lock:
            self._calls: list[ApiCall] = []
            self._failures: dict[Any, list[ApiError]] = {}
            self._updates: list[dict[str, Any]] = []
            self._webhook: dict[str, Any] = {}
            self._message_ids = itertools.count(1000)

    def calls(self, method: str | None = None) -> list[ApiCall]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def sent(self, chat_id: int) -> list[ApiCall]:
        """sendMessage and sendPhoto calls to one chat, in order."""
        return [c for c in self.calls() if c.method in ("sendMessage", "sendPhoto")
                and c.chat_id == chat_id]

    def texts(self, chat_id: int) -> list[str]:
        """What one chat was sent: message texts and photo captions, in order."""
        return [c.params.get("text") or c.params.get("caption") or "" for c in self.sent(chat_id)]

    def block_next(self, chat_id: int) -> None:
        """The next call for `chat_id` fails as if the user had blocked the bot."""
        self._fail_next(chat_id, BLOCKED)

    def rate_limit_next(self, chat_id: int, retry_after: int = 7) -> None:
        """The next call for `chat_id` fails with 429 Too Many Requests."""
        self._fail_next(chat_id, ApiError(429, f"Too Many Requests: retry after {retry_after}",
                                          retry_after=retry_after))

    def _fail_next(self, chat_id: int, error: ApiError) -> None:
        with self._lock:
            self._failures.setdefault(chat_id, []).append(error)

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (polling mode)."""
        with self._lock:
            self._updates.append(update)

    async def wait_for(self, method: str, count: int = 1) -> list[ApiCall]:
        """Wait until `count` calls of `method` were made (for the polling bot, which answers
        in its own time); fails the test after WAIT_LIMIT seconds rather than hanging."""
        if not await asyncio.to_thread(self._wait_for_calls, method, count):
            raise AssertionError(f"{count} x {method} expected; calls: {self.calls()}")
        return self.calls(method)

    def _wait_for_calls(self, method: str, count: int) -> bool:
        with self._recorded:
            return self._recorded.wait_for(
                lambda: sum(c.method == method for c in self._calls) >= count, WAIT_LIMIT)

    # --- the server ---------------------------------------------------------------------------

    def start(self) -> None:
        listener, _ = bound_listener()
        self.port = listener.getsockname()[1]
        self._serving = contextlib.ExitStack()
        self._serving.enter_context(serving_in_thread(
            self.app, listener, what="the fake Telegram API", graceful_seconds=2))

    def stop(self) -> None:
        self._closing = True
        if self._serving is not None:
            self._serving.close()

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        method = request.path_params["method"]
        params = await _params(request)
        with self._lock:
            self._calls.append(ApiCall(method, params))
            self._recorded.notify_all()
            failure = self._take_failure(params.get("chat_id"))
        try:
            if failure is not None:
                raise failure
            result = await self._answer(method, params)
        except ApiError as error:
            return error.response()
        return JSONResponse({"ok": True, "result": result})

    def _take_failure(self, chat_id: Any) -> ApiError | None:
        queued = self._failures.get(chat_id)
        return queued.pop(0) if queued else None

    async def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getUpdates":
            return await self._get_updates(params)
        handler = {
            "getMe": lambda p: BOT_USER,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "answerCallbackQuery": lambda p: True,
            "editMessageReplyMarkup": self._edit_reply_markup,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._webhook_info,
            "setMyCommands": self._set_my_commands,
        }.get(method)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        return handler(params)

    # --- methods ------------------------------------------------------------------------------

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("text") or ""
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        _check_markup(params.get("reply_markup"))
        return self._message(params, text=text)

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        photo = params.get("photo")
        if not isinstance(photo, UploadedFile) or not photo.content:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        caption = params.get("caption")
        if caption and _utf16_len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        _check_markup(params.get("reply_markup"))
        size = {"file_id": "AgACAgFake", "file_unique_id": "AQADFake", "width": 320,
                "height": 320, "file_size": len(photo.content)}
        extra = {"caption": caption} if caption else {}
        return self._message(params, photo=[size], **extra)

    def _edit_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_markup(params.get("reply_markup"))
        return self._message(params, text="(edited)", message_id=params.get("message_id"))

    def _message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        chat = ({"id": chat_id, "type": "private", "first_name": "Test"}
                if isinstance(chat_id, int) and chat_id > 0
                else {"id": chat_id, "type": "supergroup", "title": "Test group"})
        message = {"message_id": next(self._message_ids), "date": int(time.time()),
                   "chat": chat, "from": BOT_USER, **content}
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram echoes inline keyboards only
        return message

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for "
                                "webhook")
        with self._lock:
            self._webhook = {"url": url, "allowed_updates": params.get("allowed_updates")}
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        with self._lock:
            self._webhook = {}
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True

    def _webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"url": self._webhook.get("url", ""), "has_custom_certificate": False,
                    "pending_update_count": len(self._updates)}

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        for command in params.get("commands") or []:
            if not 1 <= len(command.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: command description is invalid")
        return True

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Long poll: updates from `offset` on (earlier ones are confirmed and forgotten)."""
        if self._webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                                "active; use deleteWebhook to delete the webhook first")
        offset, limit = params.get("offset") or 0, params.get("limit") or 100
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), LONG_POLL_CAP)
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = self._updates[:limit]
            if ready or self._closing or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.02)


def _check_markup(markup: Any) -> None:
    if not isinstance(markup, dict):
        return
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if len(button.get("callback_data", "").encode("utf-8")) > 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def _params(request: Request) -> dict[str, Any]:
    """The call's parameters, decoded as the Bot API decodes them."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        return json.loads(body) if body else {}
    form = await request.form()
    params: dict[str, Any] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            params[name] = UploadedFile(value.filename, await value.read())
        else:
            params[name] = _decode(name, value)
    return params


def _decode(name: str, value: str) -> Any:
    if name in JSON_FIELDS:
        return json.loads(value)
    if name in INT_FIELDS:
        with contextlib.suppress(ValueError):
            return int(value)
    if name in BOOL_FIELDS:
        return value.lower() == "true"
    return value


# --- pytest fixtures (registered in tests/conftest.py via pytest_plugins) ---------------------

@pytest.fixture(scope="session")
def telegram_api_server() -> Iterator[FakeTelegramAPI]:
    server = FakeTelegramAPI()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_telegram(telegram_api_server: FakeTelegramAPI) -> FakeTelegramAPI:
    """The fake Bot API, with no calls recorded, no failures queued and no webhook set."""
    telegram_api_server.reset()
    return telegram_api_server
