"""KuboRPC against tests/imaging/fake_kubo.py: request shapes and injected faults (outage,
corruption, wrong CID). The same client against a real node: test_kubo_real.py."""

import os
import socket
import time

import httpx
import pytest

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
from tests.imaging.fake_kubo import FakeKubo


@pytest.fixture
def fake():
    f = FakeKubo().start()
    yield f
    f.stop()


@pytest.fixture
def kubo(fake):
    k = KuboRPC(fake.url, timeout=2, retries=3, backoff=0.01)
    yield k
    k.close()


def test_fake_follows_kubo_http_conventions(fake):
    assert httpx.get(fake.url + "/api/v0/version").status_code == 405
    assert httpx.post(fake.url + "/api/v0/nope").status_code == 404
    r = httpx.post(fake.url + "/api/v0/cat", params={"arg": cid_for(b"zz")})
    assert r.status_code == 500 and set(r.json()) == {"Message", "Code", "Type"}


def test_is_a_blobstore(kubo):
    assert isinstance(kubo, BlobStore) and kubo.name == "kubo"
    assert kubo.ping()
    assert kubo.version() == "0.39.0-fake"


@pytest.mark.parametrize("size", [0, 1, 262_145, SINGLE_BLOCK_MAX])
def test_put_get_single_block(kubo, fake, size):
    data = os.urandom(size)
    cid = kubo.put(data)
    assert cid == cid_for(data)
    assert cid in fake.pins
    assert kubo.exists(cid)
    assert kubo.get(cid) == data
    assert kubo.put(data) == cid  # idempotent


def test_add_request_shape(kubo, fake, monkeypatch):
    seen = []
    real = kubo._client.post

    def spy(url, **kw):
        seen.append((url, kw.get("params")))
        return real(url, **kw)

    monkeypatch.setattr(kubo._client, "post", spy)
    kubo.put(b"abc")
    assert seen[0][0] == "/add"
    assert seen[0][1] == {"cid-version": "1", "raw-leaves": "true", "pin": "true", "chunker": "size-1048576"}
    assert all(m == "POST" for m, _ in fake.requests)


def test_large_blob_goes_through_verified_manifest(kubo, fake):
    data = os.urandom(SINGLE_BLOCK_MAX * 2 + 5)
    cid = kubo.put(data)
    assert cid != cid_for(data) and cid.startswith("bafkrei")
    manifest = fake.blocks[cid]
    assert manifest.startswith(MANIFEST_MAGIC)
    assert kubo.get(cid) == data
    assert len(fake.pins) == 2  # manifest and the UnixFS root
    kubo.delete(cid)
    assert fake.pins == set()
    assert not kubo.exists(cid)


def test_large_blob_corrupted_behind_manifest(kubo, fake):
    data = os.urandom(SINGLE_BLOCK_MAX + 1)
    cid = kubo.put(data)
    root = next(c for c in fake.blocks if c != cid)
    fake.corrupt(root)
    with pytest.raises(BlobCorrupted):
        kubo.get(cid)


def test_small_data_with_manifest_magic_is_not_confused(kubo):
    tricky = MANIFEST_MAGIC + b'{"root":"x"}'
    cid = kubo.put(tricky)
    assert kubo.get(cid) == tricky


def test_pin_and_delete(kubo, fake):
    cid = kubo.put(b"pinned")
    assert kubo.exists(cid)
    kubo.delete(cid)
    assert not kubo.exists(cid)
    kubo.delete(cid)  # idempotent
    kubo.delete(cid_for(b"never added"))


def test_missing_blob_not_retried(kubo, fake):
    with pytest.raises(BlobNotFound):
        kubo.get(cid_for(b"nope"))
    assert fake.count("/api/v0/cat") == 1


def test_cat_is_offline_by_default(kubo, fake, monkeypatch):
    seen = []
    real = kubo._client.post
    monkeypatch.setattr(
        kubo._client, "post", lambda url, **kw: (seen.append(kw["params"]), real(url, **kw))[1]
    )
    with pytest.raises(BlobNotFound):
        kubo.get(cid_for(b"nope"))
    assert seen[0]["offline"] == "true"


def test_corrupted_content_detected(kubo, fake):
    cid = kubo.put(b"some ciphertext bytes")
    fake.corrupt(cid)
    with pytest.raises(BlobCorrupted):
        kubo.get(cid)


def test_wrong_cid_from_node_is_an_error(kubo, fake):
    fake.wrong_cid = True
    with pytest.raises(BlobCorrupted, match="node returned CID"):
        kubo.put(b"data")


@pytest.mark.parametrize("mode", ["500", "503", "drop"])
def test_retries_succeed_after_transient_outage(kubo, fake, mode):
    fake.fail_next(2, mode)
    cid = kubo.put(b"eventually")
    assert fake.count("/api/v0/add") == 3
    fake.fail_next(3, mode)
    assert kubo.get(cid) == b"eventually"
    assert fake.count("/api/v0/cat") == 4


def test_unavailable_after_max_retries(kubo, fake):
    fake.fail_next(4, "500")
    with pytest.raises(StorageUnavailable, match="after 4 attempt"):
        kubo.put(b"x")
    assert fake.count("/api/v0/add") == 4
    assert kubo.put(b"x") == cid_for(b"x")  # the node is back


def test_backoff_grows(fake):
    k = KuboRPC(fake.url, retries=3, backoff=0.05)
    fake.fail_next(4, "503")
    t0 = time.monotonic()
    with pytest.raises(StorageUnavailable):
        k.version()
    # waits ~ (0.05 + 0.1 + 0.2) * [0.5, 1]
    assert 0.17 <= time.monotonic() - t0 < 2


def test_connection_refused_is_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    k = KuboRPC(f"http://127.0.0.1:{port}", timeout=1, retries=2, backoff=0.01)
    assert k.ping() is False
    with pytest.raises(StorageUnavailable, match="ConnectError"):
        k.put(b"x")


def test_timeout_honoured(fake):
    fake.hang_seconds = 3
    k = KuboRPC(fake.url, timeout=0.3, retries=1, backoff=0.01)
    fake.fail_next(2, "hang")
    t0 = time.monotonic()
    with pytest.raises(StorageUnavailable, match="Timeout"):
        k.put(b"slow")
    assert time.monotonic() - t0 < 1.5


def test_invalid_cid_never_sent(kubo, fake):
    for bad in ("../x", "/ipfs/" + cid_for(b""), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"):
        for op in (kubo.get, kubo.exists, kubo.delete):
            with pytest.raises(InvalidCID):
                op(bad)
    assert fake.requests == []


def test_get_store_picks_kubo(fake, tmp_path):
    s = get_store(blob_dir=tmp_path, ipfs_api_url=fake.url + "/api/v0/")
    assert isinstance(s, KuboRPC) and s.api_url == fake.url
    assert s.get(s.put(b"hi")) == b"hi"


@pytest.mark.parametrize(
    "answer",
    [
        {"content": b"<html>502 from a proxy, sent as 200</html>"},
        {"content": b"not gzip at all", "headers": {"Content-Encoding": "gzip"}},  # undecodable body
    ],
)
def test_an_answer_the_node_garbled_is_an_outage(answer):
    """Every I/O failure of a Kubo call is StorageUnavailable (retried by the pipeline), not a
    JSON or decoding error that would end a scan or a request in a 500."""
    k = KuboRPC(
        "http://kubo.test:5001",
        retries=1,
        backoff=0.001,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, **answer)),
    )
    for call in (lambda: k.put(b"x"), lambda: k.exists(cid_for(b"x")), k.version):
        with pytest.raises(StorageUnavailable):
            call()
