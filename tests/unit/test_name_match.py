"""The Samagra name check: the same person written many ways matches; another person, even in
the same family, does not; what is in between goes to staff."""

from __future__ import annotations

import pytest

from discom.kyc.names import NameMatch, best_match, compare, romanise


@pytest.mark.parametrize(("on_account", "in_registry"), [
    ("Ramesh Kumar Verma", "RAMESH  KUMAR VERMA"),
    ("R. K. Verma", "Ramesh Kumar Verma"),
    ("Ramesh Kumar Verma", "R K Verma"),
    ("Anil Shrivastava", "Anil Srivastava"),
    ("Lakshmi Bai", "Laxmi Bai"),
    ("Ramesh Kumar Verma", "Ramesh Kumar Varma"),
    ("Shri Gopal Yadav", "Gopal Yadav"),
    ("Smt. Meena Patel", "Mina Patel"),
    ("Vikram Singh", "विक्रम सिंह"),
    ("Ramesh Kumar", "रमेश कुमार"),
    ("Suresh Chouhan", "सुरेश चौहान"),
    ("Rajendra Jain", "राजेंद्र जैन"),
])
def test_the_same_person_written_another_way_matches(on_account: str, in_registry: str):
    assert compare(on_account, in_registry) == NameMatch.MATCH


@pytest.mark.parametrize(("on_account", "in_registry"), [
    ("Ramesh Kumar", "Ramesh Kumar Verma"),  # a surname missing on the bill
    ("Anil Verma", "Anil Sharma"),  # a surname changed (marriage)
    ("Ramesh Kumar Verma", "Rakesh Kumar Verma"),  # one letter off in the given name
])
def test_a_near_match_is_for_staff_to_decide(on_account: str, in_registry: str):
    assert compare(on_account, in_registry) == NameMatch.NEAR


@pytest.mark.parametrize(("on_account", "in_registry"), [
    ("Ramesh Kumar", "Sunita Sharma"),
    ("Ramesh Verma", "Suresh Verma"),  # another member of the same family
    ("Verma", "Ramesh Verma"),
    ("Ramesh Kumar", ""),
    ("", "Ramesh Kumar"),
    ("Ramesh Kumar", "सुनीता शर्मा"),
])
def test_another_person_does_not_match(on_account: str, in_registry: str):
    assert compare(on_account, in_registry) == NameMatch.MISMATCH


def test_the_best_of_the_registrys_spellings_counts():
    assert best_match("Ramesh Kumar", ["Ramesh Kumar Verma", "रमेश कुमार"]) == NameMatch.MATCH
    assert best_match("Ramesh Kumar", ["Ramesh Kumar Verma", ""]) == NameMatch.NEAR
    assert best_match("Ramesh Kumar", ["Sunita Sharma", "सुनीता शर्मा"]) == NameMatch.MISMATCH


@pytest.mark.parametrize(("devanagari", "latin"), [
    ("रमेश कुमार", "ramesh kumar"),
    ("लक्ष्मी", "lakshmi"),
    ("फ़राह", "pharah"),
    ("Ramesh", "Ramesh"),
])
def test_devanagari_is_romanised_as_it_is_said(devanagari: str, latin: str):
    assert romanise(devanagari) == latin
