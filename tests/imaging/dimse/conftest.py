"""Fixtures for the DIMSE tests: the SCP (`manage.py dicom_scp`) as a separate process on the
test database, pynetdicom's own `storescu`, `echoscu` and `findscu` as separate processes, and an
organisation with a peer, a clinician and a patient whose consent covers the organisation."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, WorkerProcess

AE_TITLE = "QMC"
PEER_AE = "MODALITY1"
MRN = "MRN-0042"  # the Patient ID make_dicom writes
STATUS = re.compile(r"Received Store Response \(Status: 0x([0-9A-F]{4})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ScpProcess:
    """`python manage.py dicom_scp` in a process group of its own, with the environment the real
    worker gets (test database, blob directory, master key, broker)."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = WorkerProcess(self.log_path).env()
        env["LOG_LEVEL"] = "DEBUG"  # even at DEBUG no patient data may reach the log
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "dicom_scp", "--port", str(self.port), "--ae-title", AE_TITLE],
            cwd=ROOT,
            env=env,
            stdout=open(self.log_path, "w"),  # noqa: SIM115 - the process owns it
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dicom_scp exited early:\n{self.log()[-3000:]}")
            if "listening on" in self.log():
                return
            time.sleep(0.1)
        raise RuntimeError(f"dicom_scp not listening after {timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def scp(django_db_setup, django_db_blocker, tmp_path_factory):
    process = ScpProcess(tmp_path_factory.mktemp("dicom_scp") / "scp.log")
    process.start()
    yield process
    process.stop()


@dataclass
class Run:
    rc: int
    output: str

    @property
    def statuses(self) -> list[int]:
        """The C-STORE response statuses, in the order the files were sent."""
        return [int(code, 16) for code in STATUS.findall(self.output)]

    @property
    def rejected(self) -> bool:
        return "Association Rejected" in self.output


def _run(args: list[str], cwd: Path | None = None) -> Run:
    done = subprocess.run(
        [sys.executable, "-m", "pynetdicom", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(done.returncode, done.stdout + done.stderr)


def storescu(scp: ScpProcess, *files: Path, aet: str = PEER_AE) -> Run:
    """pynetdicom's storescu: one association, one C-STORE per file."""
    return _run(
        ["storescu", "-v", "-cx", "-aet", aet, "-aec", AE_TITLE, "127.0.0.1", str(scp.port), *map(str, files)]
    )


def echoscu(scp: ScpProcess, *, aet: str = PEER_AE) -> Run:
    return _run(["echoscu", "-v", "-aet", aet, "-aec", AE_TITLE, "127.0.0.1", str(scp.port)])


def findscu(scp: ScpProcess, tmp_path: Path, *keys: str, aet: str = PEER_AE) -> tuple[Run, list]:
    """pynetdicom's findscu (Study Root) with `keys`; the response identifiers it wrote."""
    import pydicom

    out = tmp_path / f"find-{time.monotonic_ns()}"
    out.mkdir()
    args = ["findscu", "-v", "-S", "-w", "-aet", aet, "-aec", AE_TITLE, "127.0.0.1", str(scp.port)]
    for key in keys:
        args += ["-k", key]
    run = _run(args, cwd=out)
    return run, [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def dicom_file(tmp_path: Path, data: bytes, name: str | None = None) -> Path:
    path = tmp_path / (name or f"i-{time.monotonic_ns()}.dcm")
    path.write_bytes(data)
    return path


def instance(
    *,
    seed: str,
    patient_id: str = MRN,
    name: str = "Secret^Person",
    birth_date: str = "19700101",
    issuer: str = "",
    study: str | None = None,
    drop: tuple[str, ...] = (),
) -> bytes:
    """A single-frame MR instance (tests.imaging.dicomweb.conftest.make_dicom) of the given DICOM
    patient; `drop` removes attributes (a malformed instance)."""
    import pydicom

    from tests.imaging.dicomweb.conftest import frame_pixels, make_dicom

    ds = pydicom.dcmread(io.BytesIO(make_dicom(seed=seed, study=study, pixels=frame_pixels(1))))
    ds.PatientID = patient_id
    ds.PatientName = name
    ds.PatientBirthDate = birth_date
    if issuer:
        ds.IssuerOfPatientID = issuer
    for keyword in drop:
        delattr(ds, keyword)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@dataclass
class Site:
    organisation: object
    peer: object
    clinician: object
    alice: object  # consents to the organisation; her MRN is linked to her
    bob: object  # consents to the organisation; no link


@pytest.fixture
def site(db) -> Site:
    from imaging.dimse import matching
    from imaging.models import DicomPatientLink, DicomPeer
    from portal.consent_services import consent_grant
    from tests.factories import ClinicianFactory, OrganisationFactory, PatientFactory

    org = OrganisationFactory(name="St Elsewhere")
    peer = DicomPeer.objects.create(organisation=org, ae_title=PEER_AE)
    clinician = ClinicianFactory(organisation=org)
    alice, bob = PatientFactory(username="alice-dimse"), PatientFactory(username="bob-dimse")
    for patient in (alice, bob):
        consent_grant(
            patient=patient, grantee_org=org, actions=["view", "download", "upload"], purposes=["TREAT"]
        )
    DicomPatientLink.objects.create(
        organisation=org,
        patient=alice,
        patient_key=matching.key_of(organisation_id=org.pk, issuer="", patient_id=MRN),
    )
    return Site(org, peer, clinician, alice, bob)
