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
# A run of three or more letters standing alone is a word ("mera bill kitna hai"), never a
# group of a consumer number; a short prefix ("MP 1234567") may be.
_WORD = re.compile(r"^[^\W\d_]{3,}$")


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
    people type (spaces, hyphens, slashes, dots) are removed. It always has digits: text
    made of words is a message, not a number.
    """
    typed = ascii_digits(unicodedata.normalize("NFKC", text))
    if any(_WORD.match(group) for group in typed.split()):
        raise InvalidIdentifier("words are not a consumer number")
    candidate = _SEPARATORS.sub("", typed).upper()
    if not _CONSUMER_NO.match(candidate):
        raise InvalidIdentifier("consumer number must be 6-20 letters or digits")
    if not any(ch.isdigit() for ch in candidate):
        raise InvalidIdentifier("a consumer number has digits")
    return candidate


def normalise_mobile(text: str) -> str:
    """An Indian mobile number in E.164 (+91XXXXXXXXXX), with or without +91 / 0 prefix."""
    candidate = _SEPARATORS.sub("", ascii_digits(text))
    try:
        number = phonenumbers.parse(candidate, "IN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentifier("not a phone number") from exc
    national = str(number.national_number)
    # Billing exports fill a required column with 9999999999 or 0000000000 when nobody knows.
    if len(set(national)) == 1:
        raise InvalidIdentifier("a placeholder, not a real number")
    if number.country_code != 91 or not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier("not a valid Indian phone number")
    kind = phonenumbers.number_type(number)  # costly (pattern matching): once
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        raise InvalidIdentifier("a landline")
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidIdentifier("not a mobile number")
    # phonenumbers also counts DoT's 160x series (calls from banks and regulated senders)
    # as mobile; a consumer's own mobile starts with 6-9 under the national numbering plan.
    if national[0] not in "6789":
        raise InvalidIdentifier("not a mobile number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_mobile(e164: str) -> str:
    """+919876543210 → 98XXXXXX10: enough for the owner to recognise, useless to anyone else."""
    national = e164.removeprefix("+91")
    return national[:2] + "X" * (len(national) - 4) + national[-2:]


def mask_name(name: str) -> str:
    """"Ramesh Kumar" → "R***** K****": first letter of each word kept."""
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split())


# --- KYC identifiers ---------------------------------------------------------------------------

SAMAGRA_FAMILY_DIGITS, SAMAGRA_MEMBER_DIGITS = 8, 9
BANK_ACCOUNT_MIN, BANK_ACCOUNT_MAX = 9, 18
_IFSC = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
_DIGITS = re.compile(r"^[0-9]+$")


def _typed_digits(text: str) -> str:
    """What a consumer typed as a number: NFKC, ASCII digits, separators removed."""
    return _SEPARATORS.sub("", ascii_digits(unicodedata.normalize("NFKC", text)))


def normalise_samagra_id(text: str) -> tuple[str, str]:
    """A Samagra ID (Madhya Pradesh) as `(kind, digits)`: 8 digits is a family ID ("family"),
    9 digits a member ID ("member"). There is no public checksum, so only the shape is checked.
    """
    candidate = _typed_digits(text)
    if not _DIGITS.match(candidate):
        raise InvalidIdentifier("a Samagra ID has only digits")
    if len(candidate) == SAMAGRA_FAMILY_DIGITS:
        return "family", candidate
    if len(candidate) == SAMAGRA_MEMBER_DIGITS:
        return "member", candidate
    raise InvalidIdentifier("a Samagra ID has 8 (family) or 9 (member) digits")


def normalise_ifsc(text: str) -> str:
    """An IFSC: four letters (the bank), a zero, six letters or digits (the branch)."""
    candidate = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()
    if not _IFSC.match(candidate):
        raise InvalidIdentifier("an IFSC is 4 letters, 0, then 6 letters or digits")
    return candidate


def normalise_bank_account(text: str) -> str:
    """A bank account number: 9 to 18 digits (Indian banks use lengths in that range)."""
    candidate = _typed_digits(text)
    if not _DIGITS.match(candidate):
        raise InvalidIdentifier("an account number has only digits")
    if not BANK_ACCOUNT_MIN <= len(candidate) <= BANK_ACCOUNT_MAX:
        raise InvalidIdentifier("an account number has 9 to 18 digits")
    if set(candidate) == {"0"}:
        raise InvalidIdentifier("an account number is not all zeros")
    return candidate


def mask_tail(value: str) -> str:
    """1234567890 → XXXX7890: the last four only, and not even the length."""
    return "XXXX" + value[-4:]
