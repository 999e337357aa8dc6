"""Deploy-time Telegram set-up: the webhook registration and the bot's command menu.

These change state on Telegram's side for the bot as a whole, so they run once per deployment
(`bijli telegram set-webhook` / `delete-webhook`), never at every process start: N API
processes each calling setWebhook would race, and a laptop's polling would silently undo it.
"""

from __future__ import annotations

from telegram import Bot, BotCommand

from bot.channels.telegram import ALLOWED_UPDATES, redact_token_in_logs
from bot.locales import LANGUAGES, translate
from discom.settings import Settings

WEBHOOK_PATH = "/webhooks/telegram"
# The commands offered in Telegram's menu, in this order: only those that work (the help
# text lists the same ones). The dialog also understands /pay and /kyc.
BOT_COMMANDS = ("start", "dues", "pay", "status", "kyc", "language", "help", "cancel")


class TelegramOff(RuntimeError):
    """The settings lack what the operation needs (the token, or the webhook secret)."""


def default_webhook_url(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + WEBHOOK_PATH


def bot_commands(language: str) -> list[BotCommand]:
    """The command menu with descriptions in `language` (catalog keys `command.<name>`)."""
    return [BotCommand(name, translate(language, f"command.{name}")) for name in BOT_COMMANDS]


async def set_bot_commands(bot: Bot, default_language: str) -> None:
    """The menu in Hindi and English, chosen by Telegram from the user's app language; users
    whose app is in any other language see the deployment's default language."""
    for language in LANGUAGES:
        await bot.set_my_commands(bot_commands(language), language_code=language)
    await bot.set_my_commands(bot_commands(default_language))


async def register_webhook(settings: Settings, url: str | None = None) -> str:
    """Point Telegram at our webhook (with the secret it must echo) and set the command menu.
    Pending updates are kept: they are answered once the webhook is up. Returns the URL."""
    secret = settings.telegram_webhook_secret
    if secret is None:
        raise TelegramOff("TELEGRAM_WEBHOOK_SECRET is unset: without it the bot polls instead")
    url = url or default_webhook_url(settings)
    async with _bot(settings) as bot:
        await bot.set_webhook(url, secret_token=secret.get_secret_value(),
                              allowed_updates=list(ALLOWED_UPDATES), drop_pending_updates=False)
        await set_bot_commands(bot, settings.default_language)
    return url


async def unregister_webhook(settings: Settings) -> None:
    """Stop webhook delivery (updates then wait for getUpdates, i.e. polling)."""
    async with _bot(settings) as bot:
        await bot.delete_webhook(drop_pending_updates=False)


def _bot(settings: Settings) -> Bot:
    if settings.telegram_bot_token is None:
        raise TelegramOff("TELEGRAM_BOT_TOKEN is unset")
    token = settings.telegram_bot_token.get_secret_value()
    redact_token_in_logs(token)
    return Bot(token, base_url=settings.telegram_api_base_url)
