"""What consumers type, parsed and normalised; money parsed exactly and shown the Indian way."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discom.identifiers import (
    InvalidIdentifier,
    ascii_digits,
    mask_mobile,
    mask_name,
    normalise_consumer_no,
    normalise_mobile,
)
from discom.money import InvalidAmount, format_inr, rupees_to_paise

DEVANAGARI = "०१२३४५६७८९"
consumer_nos = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=6, max_size=20)


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
