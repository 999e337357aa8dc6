"""SMS texts fit in one or two segments in Hindi (UCS-2) and English (GSM-7), with the
longest values a real account produces; keywords are read in both languages."""

from __future__ import annotations

import pytest

from bot.channels.sms import parse_command
from bot.channels.sms_text import encoding, segments, sms_amount
from bot.locales import LANGUAGES, translate
from bot.notifications import TEMPLATE_VARIABLES, render_sms, template_variables
from discom.notify.sender import Note

# The longest values Bijli puts in an SMS: a 12-character consumer number and meter id, an
# amount in crores, a Razorpay payment id, dates and times as shown, a Razorpay short link.
WORST = {"consumer_no": "330000123456", "amount_paise": 9_99_99_999_99, "due_date": "2026-11-30",
         "disconnect_on": "2026-12-16", "total_paise": 9_99_99_999_99,
         "meter_id": "MPW000123456", "paid_at": "2026-12-31T18:29:59+00:00",
         "at": "2026-12-31T18:29:59+00:00", "receipt": "pay_29QQoUBi66xm2f",
         "remaining_paise": 9_99_99_999_99, "advance_paise": 9_99_99_999_99, "reason": "x",
         "account": "XXXX1234", "ifsc": "SBIN0001234"}
LINK = "https://rzp.io/i/AbCdEfGhIj"
NOTIFICATIONS = sorted(TEMPLATE_VARIABLES)


@pytest.mark.parametrize(("text", "expected"), [
    ("", 0), ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("{" * 80, 1), ("{" * 81, 2),  # extension characters count twice
    ("क" * 70, 1), ("क" * 71, 2), ("क" * 134, 2), ("क" * 135, 3),
    ("Rs 100 " + "a" * 150, 1), ("₹100 " + "a" * 70, 2),  # one ₹ makes it all UCS-2
])
def test_segments_are_counted_as_operators_count_them(text: str, expected: int):
    assert segments(text) == expected


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", NOTIFICATIONS)
def test_every_notification_sms_is_at_most_two_segments(kind: str, language: str):
    params = dict(WORST)
    if kind in ("disconnected", "payment_partial"):
        params["link_url"] = LINK
    text = render_sms(Note(1, "sms", "+919812345670", language, kind, params))
    assert segments(text) <= 2, (len(text), text)
    assert encoding(text) == ("GSM-7" if language == "en" else "UCS-2"), text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("key", "values"), [
    ("sms.reply_bill", {"consumer_no": "330000123456", "amount": "₹9,99,99,999.99",
                        "due_date": "30 Nov 2026"}),
    ("sms.reply_bill_clear", {"consumer_no": "330000123456"}),
    ("sms.reply_unknown", {"consumer_no": "33000012345678901234"}),
    ("sms.reply_need_number", {}),
    ("sms.reply_pay", {"consumer_no": "330000123456", "amount": "₹9,99,99,999.99",
                       "link": LINK}),
    ("sms.reply_pay_later", {}),
    ("sms.reply_pay_on_its_way", {}),
    ("sms.reply_status", {"consumer_no": "330000123456",
                          "supply": "meter is ready, press its button to switch on"}),
    ("sms.reply_help", {}),
    ("sms.reply_too_many", {}),
])
def test_every_sms_answer_is_at_most_two_segments(key: str, values: dict, language: str):
    values = {name: sms_amount(value, language) for name, value in values.items()}
    text = translate(language, key, **values)
    assert segments(text) <= 2, (len(text), text)
    if language == "en":
        assert encoding(text) == "GSM-7", text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("state", ["connected", "disconnected", "disconnected_non_payment",
                                   "ready_for_reconnection", "unknown", "no_meter"])
def test_every_supply_state_fits_the_status_answer(state: str, language: str):
    supply = translate(language, f"sms.supply.{state}")
    text = translate(language, "sms.reply_status", consumer_no="330000123456", supply=supply)
    assert segments(text) <= 2


@pytest.mark.parametrize(("text", "keyword", "argument", "language"), [
    ("BILL 1000000002", "bill", "1000000002", "en"),
    ("bill 1000-000-002", "bill", "1000-000-002", "en"),
    ("Pay", "pay", None, "en"),
    ("status 1000000004", "status", "1000000004", "en"),
    ("HELP", "help", None, "en"),
    ("बिल 1000000002", "bill", "1000000002", "hi"),
    ("बकाया", "bill", None, "hi"),
    ("भुगतान 1000000004", "pay", "1000000004", "hi"),
    ("स्थिति", "status", None, "hi"),
    ("मदद", "help", None, "hi"),
    ("1000000002", "bill", "1000000002", "en"),  # a bare number
    ("१००००००००२", "bill", "1000000002", "hi"),  # in Devanagari digits
    ("hello there", "help", None, "en"),
    ("", "help", None, "en"),
])
def test_keywords_are_read_in_both_languages(text: str, keyword: str, argument: str | None,
                                             language: str):
    command = parse_command(text)
    assert (command.keyword, command.argument, command.language) == (keyword, argument,
                                                                     language)


def test_template_variables_follow_the_documented_order():
    note = Note(1, "whatsapp", "+919812345670", "hi", "overdue_notice",
                {"consumer_no": "1000000003", "amount_paise": 231_000,
                 "due_date": "2026-11-17", "disconnect_on": "2026-12-13", "bill_month": "x"})
    assert template_variables(note) == {"1": "1000000003", "2": "₹2,310.00",
                                        "3": "17 नव॰ 2026", "4": "13 दिस॰ 2026"}
    empty = Note(1, "whatsapp", "+919812345670", "en", "disconnected", {"meter_id": "M1"})
    assert template_variables(empty) == {"1": "M1", "2": "-", "3": "-"}
