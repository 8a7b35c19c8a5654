"""The clinicians' viewer in Chromium: a multi-frame study opened from the scan page, frames
scrolled (button, keyboard, mouse wheel), the window changed (preset and typed), a length
measured, the tags panel read, at 1366 px and at a phone's 360 px, under the pages' strict
Content-Security-Policy (the `new_page` fixture fails the test on any violation).

The frames come from the portal's own DICOMweb with the clinician's session; no worker is
needed (the original is stored at upload). Screenshots: artifacts/e2e/viewer-*.png.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.e2e.a11y import axe_serious, subset_problems
from tests.e2e.conftest import login_cookie, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FRAMES = 8
WIDE = {"width": 1366, "height": 900}
PHONE = {"width": 360, "height": 780}


def _frames() -> np.ndarray:
    """FRAMES distinct 96x96 16-bit frames: a bright disc whose radius grows frame by frame on a
    ramp (so the window and the frame both change what is drawn)."""
    y, x = np.mgrid[0:96, 0:96]
    ramp = (x * 20).astype(np.uint16)
    out = []
    for i in range(FRAMES):
        disc = (x - 48) ** 2 + (y - 48) ** 2 < (8 + 4 * i) ** 2
        out.append(np.where(disc, np.uint16(3000), ramp))
    return np.stack(out).astype(np.uint16)


def _study(*, name: str, patient_id: str = "MRN-0042", birth: str = "19800102") -> bytes:
    import pydicom

    from tests.imaging.dicomweb.conftest import make_dicom

    ds = pydicom.dcmread(io.BytesIO(make_dicom(seed=f"viewer-{name}", pixels=_frames())))
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = name, patient_id, birth
    ds.WindowCenter, ds.WindowWidth = 1500, 3000
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _world(dicom_name: str = "Archer^Alice"):
    from imaging.services import scan_upload
    from portal.consent_services import consent_grant
    from tests.factories import ClinicianFactory, OrganisationFactory, PatientFactory

    patient = PatientFactory(username="alice.viewer", first_name="Alice", last_name="Archer")
    doc = ClinicianFactory(
        username="dr.viewer", first_name="Ada", last_name="Lovelace", organisation=OrganisationFactory()
    )
    consent_grant(
        patient=patient, grantee_user=doc, actions=["view", "download", "upload"], purposes=["TREAT"]
    )
    scan = scan_upload(uploader=doc, patient=patient, file=_study(name=dicom_name), file_name="mf.dcm")
    return patient, doc, scan


def _viewport_png(page) -> bytes:
    return page.locator("#viewer-viewport").screenshot()


def _label(page) -> str:
    return page.locator("#viewer-frame-label").inner_text()


def _wait_image(page, n: int) -> None:
    page.wait_for_function(f"() => document.getElementById('viewer').dataset.image === '{n}'")
    page.wait_for_timeout(150)  # the render of the new image follows the event


def _open_viewer(new_page, live_server, doc, scan, viewport):
    page = new_page(**viewport)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login_cookie(page, doc, live_server.url)
    page.goto(f"/scans/{scan.id}/")
    page.get_by_role("link", name="Open the study in the viewer").click()
    page.wait_for_url(f"**/scans/{scan.id}/viewer/")
    page.locator("#viewer[data-state=ready]").wait_for(timeout=30_000)
    return page, errors


def test_viewer_scrolls_frames_changes_the_window_and_measures(new_page, live_server, axe_js):
    _, doc, scan = _world()
    page, errors = _open_viewer(new_page, live_server, doc, scan, WIDE)

    assert page.locator("#identity-badge").inner_text() == "Matches"
    assert "Alice Archer" in page.locator("#identity-table").inner_text()
    assert _label(page).startswith(f"Image 1 / {FRAMES}")
    shot(page, "viewer", "1366-opened")
    first = _viewport_png(page)

    # frame scrolling: the next button, the keyboard, the mouse wheel, the slider
    page.get_by_role("button", name="Next image").click()
    _wait_image(page, 2)
    assert _label(page).startswith(f"Image 2 / {FRAMES}")
    second = _viewport_png(page)
    assert second != first, "the second frame looks like the first"
    page.locator("#viewer-viewport").focus()
    page.keyboard.press("ArrowDown")
    _wait_image(page, 3)
    box = page.locator("#viewer-viewport").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 120)
    _wait_image(page, 4)
    page.locator("#viewer-frame").fill(str(FRAMES))
    _wait_image(page, FRAMES)
    assert _label(page).startswith(f"Image {FRAMES} / {FRAMES}")

    # the window: the file's own, a preset, then typed values
    assert page.locator("#viewer-ww").input_value() == "3000"
    assert page.locator("#viewer-wc").input_value() == "1500"
    before = _viewport_png(page)
    page.get_by_label("Window preset").select_option("lung")
    assert page.locator("#viewer-ww").input_value() == "1500"
    assert page.locator("#viewer-wc").input_value() == "-600"
    page.wait_for_timeout(150)
    assert _viewport_png(page) != before, "the lung window changed nothing on screen"
    page.get_by_label("Width").fill("400")
    page.get_by_label("Level").fill("2900")
    page.get_by_label("Level").press("Enter")
    page.wait_for_function("() => document.getElementById('viewer-preset').value === 'custom'")

    # zoom, then a length measurement drawn with the mouse
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Length").click()
    page.locator("#viewer-viewport").scroll_into_view_if_needed()
    box = page.locator("#viewer-viewport").bounding_box()
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + box["width"] * 0.3, y, steps=8)
    page.mouse.up()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#viewer-viewport svg text')].some(t => /\\d/.test(t.textContent))"
    )

    # back to the window tool: a drag changes the window, and the fields follow
    page.get_by_role("button", name="Window").click()
    page.mouse.move(x, y + 40)
    page.mouse.down()
    page.mouse.move(x + 60, y + 100, steps=8)
    page.mouse.up()
    page.wait_for_function("() => document.getElementById('viewer-ww').value !== '400'")
    assert page.locator("svg text").filter(has_text="px").count() == 1  # the measurement stays

    # the tags panel: the instance on screen, filtered
    page.locator("#viewer-tags summary").click()
    page.get_by_label("Filter").fill("NumberOfFrames")
    row = page.locator("#viewer-tags-body tr").filter(has_text="NumberOfFrames")
    assert row.locator("td").nth(3).inner_text() == str(FRAMES)
    shot(page, "viewer", "1366-measured")

    problems = subset_problems(page)
    if axe_js is not None:
        problems += [f"axe {p}" for p in axe_serious(page, axe_js)]
    assert not problems, "\n".join(problems)
    assert not errors, errors


def test_viewer_at_phone_width(new_page, live_server):
    _, doc, scan = _world()
    page, errors = _open_viewer(new_page, live_server, doc, scan, PHONE)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the viewer page is {width} px wide at {PHONE['width']} px"
    box = page.locator("#viewer-viewport").bounding_box()
    assert box["width"] >= 300, "the image is squeezed at phone width"
    page.get_by_role("button", name="Next image").click()
    _wait_image(page, 2)
    page.get_by_label("Window preset").select_option("bone")
    assert page.locator("#viewer-ww").input_value() == "2000"
    shot(page, "viewer", "360")
    assert not errors, errors


def test_viewer_flags_a_study_that_names_another_patient(new_page, live_server):
    _, doc, scan = _world(dicom_name="Secret^Person")
    page, errors = _open_viewer(new_page, live_server, doc, scan, WIDE)
    assert page.locator("#identity-badge").inner_text() == "MISMATCH"
    alert = page.get_by_role("alert")
    assert "differs from the portal patient's name" in alert.inner_text()
    assert "Person Secret" in page.locator("#identity-table").inner_text()
    shot(page, "viewer", "1366-mismatch")
    assert not errors, errors
