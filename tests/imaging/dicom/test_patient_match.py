"""The viewer's identity check (imaging.dicom.patient_match): the patient named in a study's
DICOM files against the portal patient."""

from __future__ import annotations

from datetime import date

import pytest

from imaging.dicom.patient_match import (
    DicomPatient,
    PortalPatient,
    check,
    name_agrees,
    readable_date,
    readable_name,
    tokens,
)

ALICE = PortalPatient(first_name="Alice", last_name="Archer")


@pytest.mark.parametrize(
    ("pn", "portal", "agrees"),
    [
        ("Archer^Alice", ALICE, True),
        ("ARCHER^ALICE^Mary", ALICE, True),
        ("Archer^Alice=アーチャー^アリス", ALICE, True),  # only the alphabetic group counts
        ("Alice Archer", ALICE, True),  # one component: the same words in any order
        ("Müller^Anna-Lena", PortalPatient(first_name="Anna Lena", last_name="Muller"), True),
        ("Archer^Bob", ALICE, False),
        ("Archer^Alicia", ALICE, False),  # a prefix of a word is not the word
        ("Baker^Alice", ALICE, False),
        ("Alice", ALICE, False),
        ("", ALICE, None),  # an anonymous instance: nothing to compare
        ("^", ALICE, None),
        ("Archer^Alice", PortalPatient(), None),  # a portal patient known by username only
    ],
)
def test_names(pn, portal, agrees):
    assert name_agrees(pn, portal) is agrees


def test_tokens_fold_case_accents_and_punctuation():
    assert tokens("  O'Brien-SMITH  Zoë ") == ("o", "brien", "smith", "zoe")
    assert tokens("ＡＲＣＨＥＲ") == ("archer",)  # compatibility (full-width) forms


def test_readable_forms():
    assert readable_name("Archer^Alice^Mary^Dr^PhD") == "Dr Alice Mary Archer PhD"
    assert readable_name("Archer^Alice") == "Alice Archer"
    assert readable_date("19800102") == "1980-01-02"
    assert readable_date("1980") == "1980"


def test_every_instance_names_the_portal_patient():
    result = check(ALICE, [DicomPatient("Archer^Alice", "MRN-1", "19800102")] * 3)
    assert result.level == "ok" and not result.mismatch
    (row,) = result.rows
    assert (row.name, row.patient_id, row.birth_date, row.instances) == (
        "Alice Archer",
        "MRN-1",
        "1980-01-02",
        3,
    )
    assert (row.name_agrees, row.id_agrees, row.birth_agrees) == (True, None, None)
    assert result.findings == ()


def test_another_name_is_a_mismatch():
    result = check(ALICE, [DicomPatient("Secret^Person", "MRN-0042")])
    assert result.level == "bad" and result.mismatch
    assert result.rows[0].mismatch
    assert result.findings == (
        "The patient's name in the DICOM files differs from the portal patient's name.",
    )


def test_two_identities_in_one_study_are_a_mismatch_even_if_each_could_be_her():
    result = check(ALICE, [DicomPatient("Archer^Alice", "MRN-1"), DicomPatient("Archer^Alice", "MRN-2")])
    assert result.level == "bad"
    assert len(result.rows) == 2
    assert "name 2 different patients" in result.findings[0]


def test_birth_date_and_identifier_are_compared_where_the_portal_holds_them():
    portal = PortalPatient("Alice", "Archer", birth_date=date(1980, 1, 2), identifiers=frozenset({"MRN-1"}))
    assert check(portal, [DicomPatient("Archer^Alice", "MRN-1", "19800102")]).level == "ok"
    wrong_birth = check(portal, [DicomPatient("Archer^Alice", "MRN-1", "19800103")])
    assert wrong_birth.level == "bad" and wrong_birth.rows[0].birth_agrees is False
    wrong_id = check(portal, [DicomPatient("Archer^Alice", "MRN-9", "19800102")])
    assert wrong_id.level == "bad" and wrong_id.rows[0].id_agrees is False
    # an unreadable birth date in the file is shown, not compared
    assert check(portal, [DicomPatient("Archer^Alice", "MRN-1", "1980")]).rows[0].birth_agrees is None


@pytest.mark.parametrize(
    ("instances", "unread", "finding"),
    [
        ([DicomPatient("", "MRN-1")], 0, "carry no patient name"),
        ([DicomPatient("Archer^Alice")], 2, "2 instances could not be read"),
        ([], 1, "1 instance could not be read and was not checked"),
        ([], 0, "no DICOM instance with patient attributes"),
    ],
)
def test_what_cannot_be_checked_is_a_warning(instances, unread, finding):
    result = check(ALICE, instances, unread=unread)
    assert result.level == "warn"
    assert any(finding in f for f in result.findings), result.findings


def test_messages_name_no_value():
    result = check(ALICE, [DicomPatient("Secret^Person", "MRN-0042", "19700101"), DicomPatient("X^Y", "Z")])
    text = " ".join(result.findings)
    for value in ("Secret", "Person", "MRN-0042", "1970"):
        assert value not in text
