"""DICOMweb and DIMSE benchmark: prints ONE JSON object.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/qmc_dicomweb_bench \
    CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/qmc_dimse QMC_VAR_DIR=var/bench-dicomweb \
    .venv/bin/python bench/dicomweb.py [--instances 10000] [--stores 30] [--repeats 15]

Drops, creates and migrates the database in DATABASE_URL, whose name must contain "bench". No
worker runs:
what is measured is the request path (the pipeline is bench/pipeline.py's); uploads leave their
pipeline messages on the broker, which is purged at the end. Each figure is set against its raw
primitive, measured in the same run on the same bytes:

* ``wado_instance``: WADO-RS retrieval of one multi-frame instance (Django test client, full
  middleware, a clinician's session, the policy decision recorded) against reading its
  ciphertext from the blob store and AES-256-GCM decrypting it with the data key in hand
  (``raw_read_decrypt_ms``), and with the key unwrapped first (hybrid ML-KEM-768 + X25519,
  ``raw_unwrap_read_decrypt_ms``);
* ``wado_frame``: one frame of the same instance against the same primitives (the frame is cut
  out of the decrypted instance, so its floor is the whole instance's);
* ``qido_studies``: QIDO-RS study searches over ``--instances`` instances inserted through the
  models (bulk_create of Study / Series / Scan rows, no files) for patients who consent to the
  clinician's organisation, against the SQL that selects the same candidate rows without the
  policy (``raw_query_ms``): every study (page capped at QMC_DICOMWEB_MAX_RESULTS), one study
  by UID, a date range;
* ``store``: instances per second stored through the upload API (the baseline), STOW-RS (one
  request with every part, and one request per part) and C-STORE (pynetdicom SCU in this
  process, one association, against ``manage.py dicom_scp`` in a subprocess), and through
  ``imaging.services.scan_upload`` called directly (the floor of all four), each on fresh
  instances of the same size.

The machine is shared and noisy: latencies are medians (and p95) over ``--repeats`` calls,
throughputs one timed batch each; read ratios rather than absolute numbers.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("QMC_THROTTLE_USER", "100000/min")  # the throttle still runs on every call

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
UID_ROOT = "1.2.826.0.1.3680043.8.498.7702."  # pydicom's root: benchmark UIDs only


def _fresh_db(url: str) -> None:
    """Drop and create the scratch database (its name must contain "bench"): the searches are
    over exactly the rows this run inserts."""
    name = url.rsplit("/", 1)[1]
    if "bench" not in name:
        sys.exit(
            f"refusing to recreate database {name!r}: give a scratch database whose name contains 'bench'"
        )
    base = url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", base, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=True)
    subprocess.run(["psql", base, "-qc", f'CREATE DATABASE "{name}"'], check=True)


def _ms(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered) * 1e3, 3), "p95_ms": round(p95 * 1e3, 3)}


def _timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _uid(*parts) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(prefix=UID_ROOT, entropy_srcs=[":".join(map(str, parts))]))


def make_instance(*, seed: str, frames: int, size: int, patient_id: str = "BENCH-1") -> bytes:
    """An MR instance (Explicit VR Little Endian, 16-bit) of `frames` frames of size x size."""
    import numpy as np
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(MR_IMAGE)
    meta.MediaStorageSOPInstanceUID = UID(_uid("sop", seed))
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\x00" * 128)
    ds.SOPClassUID = MR_IMAGE
    ds.SOPInstanceUID = _uid("sop", seed)
    ds.StudyInstanceUID = _uid("study", seed)
    ds.SeriesInstanceUID = _uid("series", seed)
    ds.Modality = "MR"
    ds.StudyDate = "20240315"
    ds.PatientID = patient_id
    ds.PatientName = "Bench^Patient"
    ds.SeriesNumber = ds.InstanceNumber = 1
    ds.Rows = ds.Columns = size
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    rng = np.random.default_rng(abs(hash(seed)) % (1 << 32))
    ds.PixelData = rng.integers(0, 4096, (frames, size, size), dtype="<u2").tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _login(client, user) -> None:
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="bench", defaults={"confirmed": True})
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- WADO-RS


def bench_wado(*, http, clinician, patient, repeats: int) -> dict:
    from crypto import envelope
    from imaging import blobs
    from imaging.models import ScanObject
    from imaging.services import scan_upload
    from portal.keys import unwrap_for

    frames, size = 20, 256
    data = make_instance(seed="wado", frames=frames, size=size)
    scan = scan_upload(uploader=clinician, patient=patient, file=data, content_type="application/dicom")
    obj = ScanObject.objects.get(scan=scan, kind="original")
    study, series = scan.series.study.study_instance_uid, scan.series.series_instance_uid
    base = f"/dicomweb/studies/{study}/series/{series}/instances/{scan.sop_instance_uid}"
    store = blobs.store()

    def wado_instance():
        response = http.get(base, HTTP_ACCEPT='multipart/related; type="application/dicom"')
        assert response.status_code == 200, response.status_code
        body = b"".join(response.streaming_content)
        assert len(body) > len(data)

    def wado_frame():
        response = http.get(
            f"{base}/frames/10", HTTP_ACCEPT='multipart/related; type="application/octet-stream"'
        )
        assert response.status_code == 200, response.status_code
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) >= size * size * 2

    key = unwrap_for(object_id=obj.id, reader=clinician)

    def raw_read_decrypt():
        plain = envelope.decrypt(
            store.get(obj.cid), key, object_id=str(obj.id), kind=obj.kind, version=obj.version
        )
        assert len(plain) == len(data)

    def raw_unwrap_read_decrypt():
        k = unwrap_for(object_id=obj.id, reader=clinician)
        envelope.decrypt(store.get(obj.cid), k, object_id=str(obj.id), kind=obj.kind, version=obj.version)

    raw = _ms(_timed(raw_read_decrypt, repeats))
    raw_unwrap = _ms(_timed(raw_unwrap_read_decrypt, repeats))
    out = {}
    for name, fn in (("wado_instance", wado_instance), ("wado_frame", wado_frame)):
        got = _ms(_timed(fn, repeats))
        out[name] = {
            **got,
            "instance_bytes": len(data),
            "frames": frames,
            "frame_bytes": size * size * 2,
            "raw_read_decrypt_ms": raw["median_ms"],
            "raw_unwrap_read_decrypt_ms": raw_unwrap["median_ms"],
            "ratio_vs_read_decrypt": round(got["median_ms"] / raw["median_ms"], 2),
            "ratio_vs_unwrap_read_decrypt": round(got["median_ms"] / raw_unwrap["median_ms"], 2),
        }
    return out


# --------------------------------------------------------------------------- QIDO-RS


def insert_instances(*, total: int, patients: list, uploader) -> None:
    """`total` instances through the models: per patient, studies of 5 instances in one series."""
    import datetime

    from imaging.models import Scan, Series, Study

    per_patient = total // len(patients)
    studies, series_rows, scans = [], [], []
    for p_index, patient in enumerate(patients):
        for s_index in range(per_patient // 5):
            study = Study(
                patient=patient,
                study_instance_uid=_uid("q-study", p_index, s_index),
                study_date=datetime.date(2020, 1, 1)
                + datetime.timedelta(days=(p_index * 97 + s_index * 13) % 1500),
            )
            series = Series(
                study=study, series_instance_uid=_uid("q-series", p_index, s_index), modality="CT"
            )
            studies.append(study)
            series_rows.append(series)
            for i in range(5):
                scans.append(
                    Scan(
                        patient=patient,
                        uploaded_by=uploader,
                        status="done",
                        source_format="dicom",
                        original_size=1000,
                        original_sha256="0" * 64,
                        modality="CT",
                        study_date=study.study_date,
                        width=512,
                        height=512,
                        series=series,
                        sop_instance_uid=_uid("q-sop", p_index, s_index, i),
                        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                        instance_number=i + 1,
                    )
                )
    Study.objects.bulk_create(studies, batch_size=2000)
    Series.objects.bulk_create(series_rows, batch_size=2000)
    Scan.objects.bulk_create(scans, batch_size=2000)


def bench_qido(*, http, clinician, total: int, patient_count: int, repeats: int) -> dict:
    from django.conf import settings

    from imaging.dicomweb.selectors import instances
    from imaging.models import Study
    from portal.consent_services import consent_grant
    from portal.models import User

    patients = [
        User.objects.create(username=f"qido-patient-{i}", role="patient") for i in range(patient_count)
    ]
    for patient in patients:
        consent_grant(
            patient=patient,
            grantee_org=clinician.organisation,
            actions=["view", "download"],
            purposes=["TREAT"],
        )
    t0 = time.perf_counter()
    insert_instances(total=total, patients=patients, uploader=clinician)
    insert_s = time.perf_counter() - t0
    one = Study.objects.filter(patient=patients[0]).order_by("study_instance_uid").first()
    ids = [p.pk for p in patients]

    def qido(params: dict):
        def call():
            response = http.get("/dicomweb/studies", params, HTTP_ACCEPT="application/dicom+json")
            assert response.status_code in (200, 204), response.status_code

        return call

    def raw(**filters):
        def call():
            rows = list(instances().filter(patient_id__in=ids, **filters).order_by("-created_at", "id"))
            assert rows

        return call

    cases = {
        "all_studies": (qido({}), raw()),
        "by_study_uid": (
            qido({"StudyInstanceUID": one.study_instance_uid}),
            raw(series__study__study_instance_uid=one.study_instance_uid),
        ),
        "date_range_one_month": (
            qido({"StudyDate": "20210101-20210131"}),
            raw(series__study__study_date__range=("2021-01-01", "2021-01-31")),
        ),
    }
    out = {
        "instances": total,
        "patients": patient_count,
        "studies": Study.objects.filter(patient_id__in=ids).count(),
        "page_cap": settings.QMC_DICOMWEB_MAX_RESULTS,
        "insert_through_models_s": round(insert_s, 2),
    }
    for name, (search, sql) in cases.items():
        reps = max(3, repeats // 3) if name == "all_studies" else repeats
        got = _ms(_timed(search, reps))
        floor = _ms(_timed(sql, reps))
        out[name] = {
            **got,
            "raw_query_ms": floor["median_ms"],
            "ratio_vs_raw_query": round(got["median_ms"] / floor["median_ms"], 2),
            "repeats": reps,
        }
    return out


# --------------------------------------------------------------------------- stores


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 2)


def bench_store(*, http, clinician, patient, organisation, n: int) -> dict:
    import logging

    from pydicom import dcmread
    from pynetdicom import AE

    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    from pynetdicom.sop_class import MRImageStorage

    from imaging.dicom import multipart
    from imaging.dimse import matching
    from imaging.models import DicomPatientLink, DicomPeer, Scan
    from imaging.services import scan_upload

    size = 256
    batches = {
        name: [make_instance(seed=f"{name}-{i}", frames=1, size=size) for i in range(n)]
        for name in ("api", "stow_batch", "stow_single", "c_store", "service")
    }
    out: dict = {"instances_per_path": n, "instance_bytes": len(batches["api"][0])}

    def counted(fn, name: str) -> float:
        before = Scan.objects.count()
        t0 = time.perf_counter()
        fn(batches[name])
        seconds = time.perf_counter() - t0
        assert Scan.objects.count() == before + n, name
        return seconds

    def via_api(items):
        from django.core.files.uploadedfile import SimpleUploadedFile

        for i, data in enumerate(items):
            f = SimpleUploadedFile(f"{i}.dcm", data, "application/dicom")
            response = http.post("/api/v1/scans", {"patient": str(patient.pk), "file": f})
            assert response.status_code == 202, response.content[:200]

    def via_stow_batch(items):
        body = multipart.encode([("application/dicom", d) for d in items], "bench-boundary")
        response = http.post(
            f"/dicomweb/studies?patient={patient.pk}",
            body,
            content_type='multipart/related; type="application/dicom"; boundary=bench-boundary',
        )
        assert response.status_code == 200, response.content[:300]

    def via_stow_single(items):
        for d in items:
            body = multipart.encode([("application/dicom", d)], "bench-boundary")
            response = http.post(
                f"/dicomweb/studies?patient={patient.pk}",
                body,
                content_type='multipart/related; type="application/dicom"; boundary=bench-boundary',
            )
            assert response.status_code == 200, response.content[:300]

    def via_service(items):
        for d in items:
            scan_upload(uploader=clinician, patient=patient, file=d, content_type="application/dicom")

    out["upload_api_per_s"] = _rate(n, counted(via_api, "api"))
    out["stow_one_request_per_s"] = _rate(n, counted(via_stow_batch, "stow_batch"))
    out["stow_request_per_instance_per_s"] = _rate(n, counted(via_stow_single, "stow_single"))
    out["scan_upload_service_per_s"] = _rate(n, counted(via_service, "service"))

    # C-STORE: the SCP as deployed, in its own process, on this database
    DicomPeer.objects.create(organisation=organisation, ae_title="BENCHSCU")
    DicomPatientLink.objects.get_or_create(
        organisation=organisation,
        patient_key=matching.key_of(organisation_id=organisation.pk, issuer="", patient_id="BENCH-1"),
        defaults={"patient": patient},
    )
    port = _free_port()
    log_path = Path(os.environ.get("QMC_VAR_DIR", "var")) / "bench-dicom-scp.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    scp = subprocess.Popen(
        [sys.executable, "manage.py", "dicom_scp", "--port", str(port), "--ae-title", "QMC"],
        cwd=ROOT,
        stdout=open(log_path, "w"),  # noqa: SIM115 - the process owns it
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in log_path.read_text():
            if scp.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dicom_scp did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        datasets = [dcmread(io.BytesIO(d)) for d in batches["c_store"]]
        # the SCP process's first store loads the decoders: warm it up with one more instance
        warm = dcmread(io.BytesIO(make_instance(seed="c_store-warm", frames=1, size=size)))

        def send(items) -> None:
            ae = AE(ae_title="BENCHSCU")
            ae.add_requested_context(MRImageStorage, "1.2.840.10008.1.2.1")
            assoc = ae.associate("127.0.0.1", port, ae_title="QMC")
            assert assoc.is_established
            try:
                for ds in items:
                    status = assoc.send_c_store(ds)
                    assert status.Status == 0x0000, hex(status.Status)
            finally:
                assoc.release()

        send([warm])

        def via_c_store(_items):
            send(datasets)  # one association, as a modality sends a series

        out["c_store_per_s"] = _rate(n, counted(via_c_store, "c_store"))
    finally:
        scp.terminate()
        scp.wait(timeout=30)
    base = out["upload_api_per_s"]
    out["ratio_vs_upload_api"] = {
        key.removesuffix("_per_s"): round(out[key] / base, 2)
        for key in (
            "stow_one_request_per_s",
            "stow_request_per_instance_per_s",
            "c_store_per_s",
            "scan_upload_service_per_s",
        )
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=10_000, help="instances for the QIDO searches")
    ap.add_argument("--patients", type=int, default=100, help="patients those instances belong to")
    ap.add_argument("--stores", type=int, default=30, help="instances stored through each path")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit(
            "bench/dicomweb.py measures the deployed setup: set DATABASE_URL to a scratch PostgreSQL database."
        )
    _fresh_db(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    from portal.consent_services import consent_grant
    from portal.models import Organisation, User

    stamp = str(time.time_ns())
    org = Organisation.objects.create(name=f"Bench hospital {stamp}")
    clinician = User.objects.create(username=f"bench-doc-{stamp}", role="clinician", organisation=org)
    patient = User.objects.create(username=f"bench-patient-{stamp}", role="patient")
    consent_grant(
        patient=patient, grantee_org=org, actions=["view", "download", "upload"], purposes=["TREAT"]
    )
    http = Client()
    _login(http, clinician)

    result = {
        "bench": "dicomweb",
        "cpus": os.cpu_count(),
        "database": "postgresql",
        "broker": os.environ.get("CELERY_BROKER_URL", "filesystem://").split("://")[0],
    }
    result.update(bench_wado(http=http, clinician=clinician, patient=patient, repeats=args.repeats))
    result["store"] = bench_store(
        http=http, clinician=clinician, patient=patient, organisation=org, n=args.stores
    )
    result["qido_studies"] = bench_qido(
        http=http,
        clinician=clinician,
        total=args.instances,
        patient_count=args.patients,
        repeats=args.repeats,
    )
    try:
        from portal.celery import app

        app.control.purge()
    except Exception:  # noqa: BLE001 - a broker without purge keeps the messages; nothing depends on them
        pass
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
