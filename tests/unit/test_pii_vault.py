"""Personal data at rest: encrypted with the newest key, readable with any listed key, and
findable by keyed hashes that survive a key rotation; OTP hashes bound to their context."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discom.kyc.otp import looks_like_code, new_code
from discom.kyc.vault import KeyProblem, PiiVault, Undecryptable, parse_keys

NEW = "J5p1Zl1pXHb0a4K5aC3q9YbcbxF0dQhC3ZEmN5t7u8w="
OLD = "Q2bsQ0QkGCXb8Zo6AXWAl3XB7xuHn9Pr6PrYY_9cYEk="
values = st.text(alphabet="0123456789", min_size=8, max_size=18)


@given(values)
def test_a_value_comes_back_from_its_ciphertext_and_is_not_in_it(value: str):
    vault = PiiVault(parse_keys(NEW))
    token = vault.encrypt(value)
    assert value not in token
    assert vault.decrypt(token) == value
    assert vault.encrypt(value) != token  # randomised: equal values do not look equal


def test_after_a_rotation_old_values_are_readable_until_re_encrypted():
    old_token = PiiVault(parse_keys(OLD)).encrypt("123456789")
    both = PiiVault(parse_keys(f"{NEW}, {OLD}"))
    assert both.decrypt(old_token) == "123456789"
    rotated = both.reencrypt(old_token)
    assert PiiVault(parse_keys(NEW)).decrypt(rotated) == "123456789"
    with pytest.raises(Undecryptable):
        PiiVault(parse_keys(NEW)).decrypt(old_token)


@given(values)
def test_lookup_hashes_are_keyed_and_found_under_every_listed_key(value: str):
    old, both = PiiVault(parse_keys(OLD)), PiiVault(parse_keys(f"{NEW},{OLD}"))
    stored_long_ago = old.lookup_hash("samagra", value)
    assert stored_long_ago in both.lookup_hashes("samagra", value)
    assert both.lookup_hash("samagra", value) != stored_long_ago  # new rows: the new key
    assert both.same_value("samagra", value, stored_long_ago)
    assert old.lookup_hash("bank_account", value) != stored_long_ago  # kinds never collide


@given(values, values)
def test_different_values_do_not_match(a: str, b: str):
    vault = PiiVault(parse_keys(NEW))
    assert vault.same_value("bank_account", a, vault.lookup_hash("bank_account", b)) == (a == b)


def test_an_otp_hash_is_bound_to_where_the_code_may_be_used():
    vault = PiiVault(parse_keys(NEW))
    here = vault.otp_hash("123456", "kyc|1|7|+919876543210")
    assert here == vault.otp_hash("123456", "kyc|1|7|+919876543210")
    for elsewhere in ("kyc|2|7|+919876543210", "mobile_change|1|7|+919876543210",
                      "kyc|1|8|+919876543210"):
        assert vault.otp_hash("123456", elsewhere) != here
    assert "123456" not in here


def test_codes_are_six_random_digits():
    codes = {new_code() for _ in range(200)}
    assert all(looks_like_code(code) for code in codes)
    assert len(codes) > 190  # from secrets: no obvious repetition


@pytest.mark.parametrize("text", ["12345", "1234567", "12345a", "१२३४५६", ""])
def test_only_six_ascii_digits_look_like_a_code(text: str):
    assert not looks_like_code(text)


@pytest.mark.parametrize("value", ["", ",", "abc", NEW[:-2], f"{NEW},not-a-key"])
def test_a_malformed_key_list_is_refused(value: str):
    with pytest.raises(KeyProblem):
        parse_keys(value)
