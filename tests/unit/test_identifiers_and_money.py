"""What consumers type, parsed and normalised; money parsed exactly and shown the Indian way."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from discom.identifiers import (
    InvalidIdentifier,
    ascii_digits,
    mask_mobile,
    mask_name,
    mask_tail,
    normalise_bank_account,
    normalise_consumer_no,
    normalise_ifsc,
    normalise_mobile,
    normalise_samagra_id,
)
from discom.money import InvalidAmount, format_inr, rupees_to_paise

DEVANAGARI = "०१२३४५६७८९"
# IVRS numbers as people have them: digits, perhaps after a short letter prefix.
consumer_nos = st.builds(
    str.__add__,
    st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ", max_size=2),
    st.text(alphabet="0123456789", min_size=6, max_size=18),
)


@given(st.integers(min_value=0, max_value=10**12))
def test_devanagari_digits_read_as_ascii(number: int):
    typed = "".join(DEVANAGARI[int(d)] for d in str(number))
    assert ascii_digits(typed) == str(number)


@given(consumer_nos, st.lists(st.sampled_from([" ", "-", "  ", "/"]), max_size=3))
def test_a_consumer_number_survives_separators_and_case(number: str, separators: list[str]):
    typed = number.lower()
    for n, sep in enumerate(separators):
        cut = min(len(typed), 2 + 3 * n)
        typed = typed[:cut] + sep + typed[cut:]
    assert normalise_consumer_no(f" {typed} ") == number


@given(st.text(alphabet="0123456789", min_size=0, max_size=5)
       | st.text(alphabet="0123456789", min_size=21, max_size=30))
def test_a_consumer_number_of_the_wrong_length_is_refused(number: str):
    with pytest.raises(InvalidIdentifier):
        normalise_consumer_no(number)


@given(st.text(min_size=1).filter(lambda t: any(not c.isalnum() and not c.isspace()
                                                 and c not in "-_/." for c in t)))
def test_a_consumer_number_with_symbols_is_refused(text: str):
    with pytest.raises(InvalidIdentifier):
        normalise_consumer_no("123456" + text)


@pytest.mark.parametrize("typed", ["9876543210", "+91 98765 43210", "09876543210",
                                   "९८७६५४३२१०", "+91-98765-43210"])
def test_indian_mobiles_in_any_usual_form_become_e164(typed: str):
    assert normalise_mobile(typed) == "+919876543210"


@pytest.mark.parametrize("typed", ["", "12345", "+14155550100", "0731 2345678", "abcdefghij"])
def test_non_mobiles_are_refused(typed: str):
    with pytest.raises(InvalidIdentifier):
        normalise_mobile(typed)


def test_masks_keep_only_what_the_owner_recognises():
    assert mask_mobile("+919876543210") == "98XXXXXX10"
    assert mask_name("Meena  Patel") == "M**** P****"


@given(st.integers(min_value=0, max_value=10**10), st.integers(min_value=0, max_value=99))
def test_rupee_amounts_parse_exactly(rupees: int, paise: int):
    assert rupees_to_paise(f"{rupees}.{paise:02d}") == rupees * 100 + paise
    assert rupees_to_paise(str(rupees)) == rupees * 100


@pytest.mark.parametrize("text", ["12.345", "-5", "1e3", "", "₹10", "NaN", "0.1.2"])
def test_anything_but_a_plain_amount_is_refused(text: str):
    with pytest.raises(InvalidAmount):
        rupees_to_paise(text)


def test_amounts_show_with_indian_grouping():
    assert format_inr(12_345_678) == "₹1,23,456.78"
    assert format_inr(48_765_000, "hi") == "₹4,87,650.00"
    assert format_inr(5) == "₹0.05"


# --- KYC identifiers ----------------------------------------------------------------------------

def devanagari(number: str) -> str:
    return "".join(DEVANAGARI[int(d)] if d.isdigit() else d for d in number)


def with_spaces(number: str, cuts: list[int]) -> str:
    for cut in sorted({c % (len(number) + 1) for c in cuts}, reverse=True):
        number = number[:cut] + " " + number[cut:]
    return number


digits = st.text(alphabet="0123456789", min_size=1, max_size=30)


@given(st.text(alphabet="0123456789", min_size=8, max_size=9), st.booleans(),
       st.lists(st.integers(min_value=0, max_value=9), max_size=3))
def test_a_samagra_id_is_8_digits_for_a_family_and_9_for_a_member(
    number: str, in_devanagari: bool, cuts: list[int]
):
    typed = with_spaces(devanagari(number) if in_devanagari else number, cuts)
    kind, value = normalise_samagra_id(typed)
    assert value == number
    assert kind == ("family" if len(number) == 8 else "member")


@given(digits.filter(lambda d: len(d) not in (8, 9)))
def test_a_samagra_id_of_any_other_length_is_refused(number: str):
    with pytest.raises(InvalidIdentifier):
        normalise_samagra_id(number)


@given(st.text(alphabet="0123456789", min_size=8, max_size=9), st.integers(min_value=0),
       st.characters(whitelist_categories=("Lu", "Ll", "Lo", "P", "S")))
def test_a_samagra_id_with_a_letter_or_symbol_is_refused(number: str, at: int, other: str):
    # Separators people type are allowed, also as look-alikes ("․" is a dot under NFKC).
    assume(unicodedata.normalize("NFKC", other).strip("-_/. ") != "")
    at %= len(number) + 1
    with pytest.raises(InvalidIdentifier):
        normalise_samagra_id(number[:at] + other + number[at:])


ifscs = st.builds(lambda bank, branch: f"{bank}0{branch}",
                  st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4),
                  st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=6,
                          max_size=6))


@given(ifscs, st.booleans())
def test_an_ifsc_is_four_letters_a_zero_and_six_letters_or_digits(ifsc: str, lower: bool):
    assert normalise_ifsc(f" {ifsc.lower() if lower else ifsc} ") == ifsc


@given(ifscs, st.integers(min_value=0, max_value=10),
       st.sampled_from("1AZ@#-é०"))
def test_an_ifsc_with_any_character_out_of_place_is_refused(ifsc: str, at: int, wrong: str):
    expected_kind = "letter" if at < 4 else "zero" if at == 4 else "branch"
    if (expected_kind == "letter" and wrong in "AZ") or (
            expected_kind == "branch" and wrong in "1AZ") or wrong == "-":
        return
    with pytest.raises(InvalidIdentifier):
        normalise_ifsc(ifsc[:at] + wrong + ifsc[at + 1:])


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", max_size=20).filter(
    lambda t: len(t) != 11))
def test_an_ifsc_of_the_wrong_length_is_refused(text: str):
    with pytest.raises(InvalidIdentifier):
        normalise_ifsc(text)


@given(st.text(alphabet="0123456789", min_size=9, max_size=18).filter(lambda d: set(d) != {"0"}),
       st.booleans(), st.lists(st.integers(min_value=0, max_value=18), max_size=4))
def test_a_bank_account_is_9_to_18_digits_however_typed(
    number: str, in_devanagari: bool, cuts: list[int]
):
    typed = with_spaces(devanagari(number) if in_devanagari else number, cuts)
    assert normalise_bank_account(typed) == number
    assert mask_tail(number) == "XXXX" + number[-4:]


@given(digits.filter(lambda d: not 9 <= len(d) <= 18))
def test_a_bank_account_of_another_length_is_refused(number: str):
    with pytest.raises(InvalidIdentifier):
        normalise_bank_account(number)


def _normalised(typed: str) -> str | None:
    try:
        return normalise_mobile(typed)
    except InvalidIdentifier:
        return None


@given(st.sampled_from("6789"), st.text(alphabet="0123456789", min_size=9, max_size=9),
       st.lists(st.integers(min_value=0, max_value=10), max_size=2))
def test_every_usual_way_of_typing_a_mobile_gives_the_same_answer(
    first: str, rest: str, cuts: list[int]
):
    national = first + rest
    answers = {_normalised(form) for form in (
        national, "+91" + national, "+91 " + national, "0" + national, "91" + national,
        devanagari(national), with_spaces(national, cuts), "+91-" + with_spaces(national, cuts))}
    assert len(answers) == 1
    [answer] = answers
    if answer is not None:
        assert answer == "+91" + national
        assert mask_mobile(answer) == national[:2] + "XXXXXX" + national[-2:]


@given(st.sampled_from("012345"), st.text(alphabet="0123456789", min_size=9, max_size=9))
@example("1", "600000000")  # DoT's 160x series: phonenumbers calls it mobile
def test_a_ten_digit_number_that_is_not_a_mobile_is_refused(first: str, rest: str):
    with pytest.raises(InvalidIdentifier):
        normalise_mobile(first + rest)


@given(st.text(alphabet="0123456789" + DEVANAGARI + "٠١٢٣٤٥٦٧٨٩", max_size=30))
def test_any_decimal_digits_become_ascii_digits_one_for_one(text: str):
    converted = ascii_digits(text)
    assert len(converted) == len(text) and converted.isascii() and (
        converted.isdigit() or not text)



@pytest.mark.parametrize("typed", ["mera bill kitna hai", "bill 1000000004", "ABCDEFGH",
                                   "kitna hai 123456"])
def test_words_are_never_a_consumer_number(typed: str):
    with pytest.raises(InvalidIdentifier):
        normalise_consumer_no(typed)


@pytest.mark.parametrize("typed", ["MP 1234567", "N3245001234", "1000 000 004"])
def test_a_short_letter_prefix_and_digit_groups_are_a_consumer_number(typed: str):
    assert normalise_consumer_no(typed) == typed.replace(" ", "")
