"""Validation and normalisation of what consumers type: consumer numbers, mobiles, digits.

Consumers type on phones in Hindi keyboards: Devanagari digits (०-९), stray spaces, hyphens.
Everything here is pure and total — it returns a value or raises `InvalidIdentifier`.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

CONSUMER_NO_MIN, CONSUMER_NO_MAX = 6, 20
_CONSUMER_NO = re.compile(rf"^[A-Z0-9]{{{CONSUMER_NO_MIN},{CONSUMER_NO_MAX}}}$")
_SEPARATORS = re.compile(r"[\s\-_/.]+")


class InvalidIdentifier(ValueError):
    """Input that is not a well-formed identifier of the asked kind."""


def ascii_digits(text: str) -> str:
    """Turn every Unicode decimal digit (Devanagari ०-९ included) into its ASCII digit."""
    return "".join(
        str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text
    )


def normalise_consumer_no(text: str) -> str:
    """The canonical form of an IVRS consumer number: 6-20 ASCII letters/digits, upper case.

    The discom's format is not public, so it is treated as an opaque key; separators that
    people type (spaces, hyphens, slashes, dots) are removed.
    """
    candidate = _SEPARATORS.sub("", ascii_digits(unicodedata.normalize("NFKC", text))).upper()
    if not _CONSUMER_NO.match(candidate):
        raise InvalidIdentifier("consumer number must be 6-20 letters or digits")
    return candidate


def normalise_mobile(text: str) -> str:
    """An Indian mobile number in E.164 (+91XXXXXXXXXX), with or without +91 / 0 prefix."""
    candidate = _SEPARATORS.sub("", ascii_digits(text))
    try:
        number = phonenumbers.parse(candidate, "IN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentifier("not a phone number") from exc
    if number.country_code != 91 or not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier("not a valid Indian phone number")
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidIdentifier("not a mobile number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_mobile(e164: str) -> str:
    """+919876543210 → 98XXXXXX10: enough for the owner to recognise, useless to anyone else."""
    national = e164.removeprefix("+91")
    return national[:2] + "X" * (len(national) - 4) + national[-2:]


def mask_name(name: str) -> str:
    """"Ramesh Kumar" → "R***** K****": first letter of each word kept."""
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split())
