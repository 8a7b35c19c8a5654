"""De-identification (imaging.dicom.deid) against PS3.15 Table E.1-1 as dicom-anonymizer's rule
table lists it: every attribute of the table is planted with a value of its own, and none of
those values, nor any attribute listed for removal, survives."""

from __future__ import annotations

import io

import numpy as np
import pytest
from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as TABLE
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from imaging.dicom import deid
from imaging.dicom.identity import is_uid

KEY, OTHER_KEY = b"k" * 32, b"o" * 32
MR = "1.2.840.10008.5.1.4.1.1.4"
CATEGORIES = (
    "D_TAGS",
    "Z_TAGS",
    "X_TAGS",
    "U_TAGS",
    "Z_D_TAGS",
    "X_Z_TAGS",
    "X_D_TAGS",
    "X_Z_D_TAGS",
    "X_Z_U_STAR_TAGS",
)
NESTED_SECRET = "Nested^Secretperson"


def _planted(tag: tuple[int, int], vr: str):
    """A value of `vr` that names its tag (so that a survivor is found by its value)."""
    n = (tag[0] << 16) | tag[1]
    text = f"SEC{n:08X}"
    return {
        "AE": text,
        "AS": "042Y",
        "CS": text,
        "DA": "19710203",
        "DT": "19710203040506",
        "TM": "040506",
        "DS": "42.5",
        "IS": "4242",
        "LO": text,
        "LT": text,
        "SH": text,
        "ST": text,
        "UC": text,
        "UT": text,
        "PN": f"Secret^{text}",
        "UI": f"2.999.4242.{n}",
        "UR": f"http://secret.example/{text}",
        "US": 4242,
        "UL": 4242,
        "SS": 4242,
        "SL": 4242,
        "FL": 42.5,
        "FD": 42.5,
        "OB": b"SECRETBYTES!",
        "UN": b"SECRETBYTES!",
    }.get(vr)


def _nested() -> Sequence:
    item = Dataset()
    item.PatientName = NESTED_SECRET
    item.ReferencedSOPInstanceUID = "2.999.4242.777"
    return Sequence([item])


def _table_tags() -> dict[str, list[tuple[int, int]]]:
    # the command (0000) and file meta (0002) groups are not in a data set
    return {
        c: [t for t in getattr(TABLE, c) if len(t) == 2 and t[0] not in (0x0000, 0x0002)] for c in CATEGORIES
    }


def _instance(*, study="2.999.4242.1", series="2.999.4242.2", sop="2.999.4242.3", plant=True):
    """An MR instance with every attribute of the table that pydicom knows the VR of, planted."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(MR)
    meta.MediaStorageSOPInstanceUID = UID(sop)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = "SECRETAE"
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\x00" * 128)
    planted = {}
    if plant:
        for tags in _table_tags().values():
            for tag in tags:
                try:
                    vr = dictionary_VR((tag[0] << 16) | tag[1]).split(" or ")[0]
                except KeyError:  # not in pydicom's dictionary (retired or newer than it)
                    continue
                value = _nested() if vr == "SQ" else _planted(tag, vr)
                if value is None:
                    continue
                ds.add_new(tag, vr, value)
                planted[tag] = value
        ds.add_new((0x6000, 0x3000), "OW", b"\x01\x02" * 8)  # overlay data: repeating group, X
        ds.add_new((0x0009, 0x0010), "LO", "SECRET CREATOR")  # private
        ds.add_new((0x0009, 0x1001), "LO", "SECRET PRIVATE")
    ds.SOPClassUID = MR
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = study + ".9"
    ds.Modality = "MR"
    ds.PatientName = "Secret^Person"
    ds.PatientID = "MRN-0042"
    ds.Rows, ds.Columns = 4, 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.arange(16, dtype="<u2").tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), planted


def _elements(ds):
    yield from ds.iterall()


def test_no_attribute_of_table_e11_survives():
    data, planted = _instance()
    assert len(planted) > 400  # the table, not a sample of it
    out = deid.deidentify(data, key=KEY, patient="R0")
    ds = deid.read(out)
    tags = _table_tags()
    # listed for removal (X): gone, at the top and in any sequence
    present = {(e.tag.group, e.tag.element) for e in _elements(ds)}
    removed = set(tags["X_TAGS"]) | set(tags["X_Z_U_STAR_TAGS"])
    assert not (removed & present & set(planted))
    assert (0x6000, 0x3000) not in present and not any(e.tag.is_private for e in _elements(ds))
    # every other action of the table (D, Z, U and the X/Z/D choices): the planted value is gone
    for tag, value in planted.items():
        if tag in ds and not isinstance(value, Sequence):
            assert ds[tag].value != value, f"{tag} kept its value"
    # nothing planted survives anywhere in the bytes, nested sequences and file meta included
    for marker in (b"SEC0", b"Secret", b"SECRET", b"MRN-0042", b"2.999.4242.", b"19710203"):
        assert marker not in out, marker
    assert NESTED_SECRET.encode() not in out


def test_identity_removed_and_method_recorded():
    data, _ = _instance(plant=False)
    ds = deid.read(deid.deidentify(data, key=KEY, patient=deid.patient_pseudonym(KEY, "p-1")))
    assert ds.PatientIdentityRemoved == "YES"
    assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100"]
    assert ds.DeidentificationMethodCodeSequence[0].CodingSchemeDesignator == "DCM"
    assert any("Basic Profile" in m for m in ds.DeidentificationMethod)
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert ds.PatientID == str(ds.PatientName) == deid.patient_pseudonym(KEY, "p-1")
    assert ds.PixelData == np.arange(16, dtype="<u2").tobytes()  # Clean Pixel Data not applied


def test_uids_are_consistent_across_a_study_and_keyed():
    study, series = "2.999.4242.10", "2.999.4242.11"
    a = deid.read(
        deid.deidentify(
            _instance(study=study, series=series, sop=study + ".1", plant=False)[0], key=KEY, patient="R"
        )
    )
    b = deid.read(
        deid.deidentify(
            _instance(study=study, series=series, sop=study + ".2", plant=False)[0], key=KEY, patient="R"
        )
    )
    assert a.StudyInstanceUID == b.StudyInstanceUID == deid.pseudonym_uid(KEY, study) != study
    assert a.SeriesInstanceUID == b.SeriesInstanceUID == deid.pseudonym_uid(KEY, series)
    assert a.FrameOfReferenceUID == b.FrameOfReferenceUID
    assert a.SOPInstanceUID != b.SOPInstanceUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    other = deid.read(
        deid.deidentify(
            _instance(study=study, series=series, sop=study + ".1", plant=False)[0],
            key=OTHER_KEY,
            patient="R",
        )
    )
    assert other.StudyInstanceUID != a.StudyInstanceUID  # another recipient, other pseudonyms
    for ds in (a, b, other):
        assert (
            is_uid(ds.SOPInstanceUID)
            and len(ds.StudyInstanceUID) <= 64
            and ds.StudyInstanceUID.startswith("2.25.")
        )


@pytest.mark.parametrize(
    ("modality", "burned_in", "withheld"),
    [
        ("MR", None, False),
        ("MR", "YES", True),
        ("US", None, True),  # ultrasound often has burned-in text: not released unless it says NO
        ("US", "NO", False),
    ],
)
def test_instances_that_may_carry_burned_in_identifiers_are_withheld(modality, burned_in, withheld):
    data, _ = _instance(plant=False)
    ds = deid.read(data)
    ds.Modality = modality
    if burned_in:
        ds.BurnedInAnnotation = burned_in
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    if withheld:
        with pytest.raises(deid.Withheld, match="not released for research"):
            deid.deidentify(buf.getvalue(), key=KEY, patient="R")
    else:
        assert (
            deid.read(deid.deidentify(buf.getvalue(), key=KEY, patient="R")).PatientIdentityRemoved == "YES"
        )
