"""KuboRPC against a REAL IPFS node: js-ipfs 0.66.1 (``jsipfs daemon``, the JavaScript
implementation, not Go Kubo), started by the ``ipfs_node`` fixture in conftest.py.

What a real node shows that the fake cannot: the CIDs it computes (raw leaves, 1 MiB chunker,
UnixFS dag-pb roots for larger files), its error answers, what pinning and garbage collection
really do, and its block store on disk (corrupted by hand below). Outages, wrong CIDs from the
node and retry timing stay with tests/imaging/storage/test_kubo.py and its fake.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import httpx
import pytest
from multiformats import CID

from imaging.storage import (
    BlobCorrupted,
    BlobNotFound,
    BlobStore,
    InvalidCID,
    KuboRPC,
    StorageUnavailable,
    cid_for,
    get_store,
)
from imaging.storage.kubo import MANIFEST_MAGIC, SINGLE_BLOCK_MAX

MIB = 1 << 20


@pytest.fixture
def kubo(ipfs_node):
    k = KuboRPC(ipfs_node, timeout=10, retries=1, backoff=0.05)
    yield k
    k.close()


@pytest.fixture
def quick(ipfs_node):
    """A client that gives up fast: for blocks the node does not have (js-ipfs waits for them)."""
    k = KuboRPC(ipfs_node, timeout=1.5, retries=1, backoff=0.01)
    yield k
    k.close()


def rpc(url: str, endpoint: str, **params) -> httpx.Response:
    return httpx.post(f"{url}/api/v0/{endpoint}", params=params, timeout=30)


def mh(cid: str | CID) -> bytes:
    """The multihash of a CID: blocks are stored (and listed by refs/local) under it, codec-less."""
    return bytes((cid if isinstance(cid, CID) else CID.decode(cid)).digest)


def local_refs(url: str) -> set[bytes]:
    """Multihashes of every block in the node's store."""
    resp = rpc(url, "refs/local")
    assert resp.status_code == 200, resp.text
    return {mh(json.loads(line)["Ref"]) for line in resp.text.splitlines() if line.strip()}


def pinned(url: str, cid: str) -> bool:
    resp = rpc(url, "pin/ls", arg=cid, type="recursive")
    if resp.status_code == 500 and "not pinned" in resp.json()["Message"]:
        return False
    assert resp.status_code == 200, resp.text
    return CID.decode(cid) in {CID.decode(k) for k in resp.json()["Keys"]}


def manifest_of(url: str, cid: str) -> dict:
    raw = rpc(url, "cat", arg=cid).content
    assert raw.startswith(MANIFEST_MAGIC) and cid_for(raw) == cid
    return json.loads(raw[len(MANIFEST_MAGIC) :])


# ------------------------------------------------------------------ the node itself


def test_node_is_a_real_js_ipfs_daemon(ipfs_node, kubo):
    body = rpc(ipfs_node, "version").json()
    assert "ipfs-core" in body  # js-ipfs reports its core; Go Kubo reports "Golang" instead
    assert kubo.version() == body["Version"] == body["ipfs-core"]
    assert kubo.ping() is True
    # the RPC conventions KuboRPC relies on: POST only, JSON errors with Message/Code/Type
    assert httpx.get(f"{ipfs_node}/api/v0/version").status_code == 405
    err = rpc(ipfs_node, "pin/rm", arg=cid_for(b"never pinned " + os.urandom(8)))
    assert err.status_code == 500 and set(err.json()) == {"Message", "Code", "Type"}
    assert "not pinned" in err.json()["Message"]


@pytest.mark.parametrize("size", [0, 9, 262_145, SINGLE_BLOCK_MAX])
def test_node_computes_our_cid_for_single_block_content(ipfs_node, size):
    """Raw leaves + 1 MiB chunker: the node's CID for <= 1 MiB is cid_for(data), byte for byte
    of the multihash (js-ipfs prints CIDv1 in base58btc unless asked for base32)."""
    data = os.urandom(size)
    files = {"file": ("blob", data, "application/octet-stream")}
    params = {"cid-version": "1", "raw-leaves": "true", "pin": "false", "chunker": f"size-{SINGLE_BLOCK_MAX}"}
    resp = httpx.post(f"{ipfs_node}/api/v0/add", params=params, files=files, timeout=30)
    assert resp.status_code == 200, resp.text
    got = CID.decode(resp.json()["Hash"])
    assert got == CID.decode(cid_for(data))
    resp = httpx.post(
        f"{ipfs_node}/api/v0/add", params={**params, "cid-base": "base32"}, files=files, timeout=30
    )
    assert resp.json()["Hash"] == cid_for(data)


def test_more_than_one_mib_becomes_a_unixfs_dag(ipfs_node):
    data = os.urandom(SINGLE_BLOCK_MAX + 1)
    resp = httpx.post(
        f"{ipfs_node}/api/v0/add",
        params={
            "cid-version": "1",
            "raw-leaves": "true",
            "pin": "false",
            "chunker": f"size-{SINGLE_BLOCK_MAX}",
        },
        files={"file": ("blob", data, "application/octet-stream")},
        timeout=30,
    )
    root = CID.decode(resp.json()["Hash"])
    assert root.codec.name == "dag-pb" and root.version == 1
    assert root != CID.decode(cid_for(data))


# ------------------------------------------------------------------ BlobStore contract


def test_is_a_blobstore(kubo):
    assert isinstance(kubo, BlobStore) and kubo.name == "kubo"


@pytest.mark.parametrize("size", [0, 1, 262_145, SINGLE_BLOCK_MAX])
def test_put_get_single_block(kubo, ipfs_node, size):
    data = os.urandom(size)
    cid = kubo.put(data)
    assert cid == cid_for(data)
    assert pinned(ipfs_node, cid)
    assert kubo.exists(cid)
    assert kubo.get(cid) == data
    assert kubo.put(data) == cid  # idempotent


@pytest.mark.parametrize("size", [SINGLE_BLOCK_MAX + 1, 5 * MIB + 12_345])
def test_large_blob_round_trip_through_manifest(kubo, ipfs_node, size):
    data = os.urandom(size)
    cid = kubo.put(data)
    assert cid.startswith("bafkrei") and cid != cid_for(data)
    manifest = manifest_of(ipfs_node, cid)
    assert manifest["size"] == size and manifest["sha256"] == hashlib.sha256(data).hexdigest()
    root = CID.decode(manifest["root"])
    assert root.codec.name == "dag-pb" and str(root) == manifest["root"]  # stored in base32
    assert pinned(ipfs_node, cid) and pinned(ipfs_node, manifest["root"])
    assert rpc(ipfs_node, "cat", arg=manifest["root"]).content == data
    assert kubo.get(cid) == data
    assert kubo.put(data) == cid  # same layout, same root, same manifest


def test_small_data_with_manifest_magic_is_not_confused(kubo):
    tricky = MANIFEST_MAGIC + b'{"root":"x"}'
    cid = kubo.put(tricky)
    assert kubo.get(cid) == tricky


def test_delete_unpins_and_is_idempotent(kubo, quick, ipfs_node):
    cid = kubo.put(b"pinned " + os.urandom(8))
    assert kubo.exists(cid)
    kubo.delete(cid)
    assert not kubo.exists(cid) and not pinned(ipfs_node, cid)
    kubo.delete(cid)  # already unpinned
    t0 = time.monotonic()
    quick.delete(cid_for(b"never added " + os.urandom(8)))  # absent: fine, and at once
    assert time.monotonic() - t0 < 1.0


def test_delete_then_gc_frees_every_block(kubo, quick, ipfs_node):
    small = os.urandom(1000)
    large = os.urandom(3 * MIB + 1)
    keep = os.urandom(1000)
    small_cid, large_cid, keep_cid = kubo.put(small), kubo.put(large), kubo.put(keep)
    root = CID.decode(manifest_of(ipfs_node, large_cid)["root"])
    leaves = {mh(cid_for(large[i : i + MIB])) for i in range(0, len(large), MIB)}  # raw 1 MiB leaves
    before = local_refs(ipfs_node)
    assert {mh(small_cid), mh(large_cid), mh(root), mh(keep_cid)} | leaves <= before
    kubo.delete(small_cid)
    kubo.delete(large_cid)
    assert rpc(ipfs_node, "repo/gc").status_code == 200
    after = local_refs(ipfs_node)
    assert mh(small_cid) not in after and mh(large_cid) not in after
    assert mh(root) not in after and not leaves & after  # the UnixFS root was unpinned too
    assert mh(keep_cid) in after and kubo.get(keep_cid) == keep
    with pytest.raises((BlobNotFound, StorageUnavailable)):
        quick.get(small_cid)


def test_unknown_cid_fails_in_bounded_time(quick):
    """Kubo answers ``cat --offline`` of a missing block at once (BlobNotFound); js-ipfs waits for
    the block, so the client's timeout ends it: StorageUnavailable after 2 attempts."""
    missing = cid_for(b"nobody stored this " + os.urandom(8))
    t0 = time.monotonic()
    with pytest.raises((BlobNotFound, StorageUnavailable)):
        quick.get(missing)
    assert time.monotonic() - t0 < 2 * 1.5 + 2
    assert quick.exists(missing) is False


def test_corrupted_block_on_the_node_is_detected(kubo, ipfs_daemon):
    """Flip a byte of the block file in the node's flatfs store: the node serves it unchecked,
    the client's re-hash catches it."""
    data = os.urandom(4096)
    cid = kubo.put(data)
    files = [p for p in (ipfs_daemon.repo / "blocks").rglob("*.data") if p.read_bytes() == data]
    assert len(files) == 1
    bad = bytearray(data)
    bad[100] ^= 0x01
    files[0].write_bytes(bytes(bad))
    try:
        with pytest.raises(BlobCorrupted):
            kubo.get(cid)
    finally:
        files[0].write_bytes(data)
    assert kubo.get(cid) == data


def test_invalid_cids_are_refused_before_any_call(kubo):
    for bad in ("../x", "/ipfs/" + cid_for(b""), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"):
        for op in (kubo.get, kubo.exists, kubo.delete):
            with pytest.raises(InvalidCID):
                op(bad)


def test_get_store_picks_kubo_for_the_node(ipfs_node, tmp_path):
    s = get_store(blob_dir=tmp_path, ipfs_api_url=ipfs_node + "/api/v0/")
    assert isinstance(s, KuboRPC) and s.api_url == ipfs_node
    data = os.urandom(64)
    assert s.get(s.put(data)) == data
    assert list(tmp_path.iterdir()) == []  # nothing went to the local directory


# ------------------------------------------------------------------ end to end


@pytest.mark.django_db
def test_pipeline_stores_envelope_ciphertext_on_the_node(ipfs_node, settings, patient):
    """IPFS_API_URL pointed at the node: upload (original encrypted at once), the pipeline
    (preview and matrix encrypted), all objects on the node as pinned ciphertext, read back
    verified and decrypted."""
    from imaging import blobs, pipeline
    from imaging.models import ScanObject, ScanStatus
    from imaging.services import scan_upload
    from tests.imaging.conftest import blob_files, dicom_bytes, upload_file

    settings.IPFS_API_URL = ipfs_node
    assert isinstance(blobs.store(), KuboRPC)
    local_before = blob_files()
    original = dicom_bytes()
    scan = scan_upload(uploader=patient, patient=patient, file=upload_file(original, "a.dcm"))
    assert pipeline.run(scan.pk) == ScanStatus.DONE
    scan.refresh_from_db()

    objs = {o.kind: o for o in ScanObject.objects.filter(scan=scan)}
    assert {"original", "preview", "matrix"} <= set(objs)
    assert blob_files() == local_before  # nothing written to LocalCAS
    with KuboRPC(ipfs_node) as node:
        for obj in objs.values():
            assert obj.backend == "kubo"
            assert pinned(ipfs_node, obj.cid)
            ciphertext = node.get(obj.cid)
            assert hashlib.sha256(ciphertext).hexdigest() == obj.ciphertext_sha256
            if obj.kind == "original":
                assert original[256:320] not in ciphertext  # stored encrypted
    plain = {kind: pipeline.read_object(obj) for kind, obj in objs.items()}
    assert plain["original"] == original
    assert plain["preview"].startswith(b"\x89PNG")
    assert hashlib.sha256(plain["matrix"]).hexdigest() == scan.pixel_sha256
