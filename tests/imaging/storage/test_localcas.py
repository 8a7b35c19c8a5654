"""LocalCAS: content addressing, atomic writes, verification on read, path safety."""

import os
import threading

import pytest

from imaging.storage import (
    BlobCorrupted,
    BlobNotFound,
    BlobStore,
    InvalidCID,
    LocalCAS,
    StorageUnavailable,
    cid_for,
    get_store,
)

from .test_cid import BAD


@pytest.fixture
def store(tmp_path):
    return LocalCAS(tmp_path / "blobs")


def test_is_a_blobstore(store):
    assert isinstance(store, BlobStore)
    assert store.name == "localcas"
    assert store.ping()


@pytest.mark.parametrize("size", [0, 1, 1000, (1 << 20) + 3])
def test_round_trip(store, size):
    data = os.urandom(size)
    cid = store.put(data)
    assert cid == cid_for(data)
    assert store.exists(cid)
    assert store.get(cid) == data
    path = store.path_for(cid)
    assert path.parent.parent == store.root and path.name == cid


def test_put_is_idempotent(store):
    cid = store.put(b"same bytes")
    mtime = store.path_for(cid).stat().st_mtime_ns
    assert store.put(b"same bytes") == cid
    assert store.path_for(cid).stat().st_mtime_ns == mtime  # not rewritten
    assert len([p for p in store.root.rglob("*") if p.is_file()]) == 1


def test_missing_blob(store):
    cid = cid_for(b"never stored")
    assert not store.exists(cid)
    with pytest.raises(BlobNotFound):
        store.get(cid)


def test_delete_is_idempotent(store):
    cid = store.put(b"x")
    store.delete(cid)
    store.delete(cid)
    assert not store.exists(cid)


def test_corrupted_file_detected_on_read(store):
    cid = store.put(b"precious ciphertext")
    path = store.path_for(cid)
    raw = bytearray(path.read_bytes())
    raw[3] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(BlobCorrupted):
        store.get(cid)
    path.write_bytes(b"precious ciphertext" + b"\x00")
    with pytest.raises(BlobCorrupted):
        store.get(cid)


def test_put_heals_a_corrupted_copy(store):
    cid = store.put(b"abc")
    store.path_for(cid).write_bytes(b"abd")
    assert store.put(b"abc") == cid
    assert store.get(cid) == b"abc"


def test_atomic_write_no_partial_file_on_failure(store, monkeypatch):
    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(StorageUnavailable):
        store.put(b"will not land")
    assert not store.exists(cid_for(b"will not land"))
    assert list((store.root / ".tmp").iterdir()) == []  # temp file cleaned up


def test_atomic_write_uses_fsync_and_replace(store, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    cid = store.put(b"durable")
    assert calls[:2] == ["fsync", "replace"]  # file fsync'd before it becomes visible
    assert store.get(cid) == b"durable"
    assert list((store.root / ".tmp").iterdir()) == []


@pytest.mark.parametrize("bad", BAD)
def test_bad_cids_rejected_everywhere(store, bad, tmp_path):
    (tmp_path / "secret").write_bytes(b"do not read")
    for op in (store.get, store.exists, store.delete, store.path_for):
        with pytest.raises(InvalidCID):
            op(bad)
    assert (tmp_path / "secret").exists()


def test_traversal_cannot_reach_outside(store, tmp_path):
    target = tmp_path / "outside"
    target.write_bytes(b"x")
    for bad in ("../outside", "../../outside", str(target), "..%2foutside"):
        with pytest.raises(InvalidCID):
            store.get(bad)
        with pytest.raises(InvalidCID):
            store.delete(bad)
    assert target.exists()


def test_concurrent_puts_of_same_content(store):
    data = os.urandom(300_000)
    results, errors = [], []
    barrier = threading.Barrier(16)

    def worker():
        try:
            barrier.wait()
            results.append(store.put(data))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert set(results) == {cid_for(data)}
    assert store.get(cid_for(data)) == data
    assert list((store.root / ".tmp").iterdir()) == []


def test_concurrent_puts_of_different_content(store):
    blobs = [os.urandom(1000) for _ in range(32)]
    threads = [threading.Thread(target=store.put, args=(b,)) for b in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for b in blobs:
        assert store.get(cid_for(b)) == b


def test_ping_false_when_root_unusable(tmp_path):
    f = tmp_path / "file"
    f.write_bytes(b"")
    assert LocalCAS(f / "sub").ping() is False


def test_get_store_default_is_localcas(tmp_path):
    s = get_store(blob_dir=tmp_path)
    assert isinstance(s, LocalCAS) and s.root == tmp_path.resolve()


# --- every I/O error is an outage (StorageUnavailable), never a raw OSError -------------------

# runs as root without the capabilities that let root ignore file permissions: what any
# unprivileged worker meets when the store's folders are not writable
_UNPRIVILEGED = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
]
_PROBE = """
import sys
from imaging.storage import LocalCAS, StorageUnavailable, cid_for
store = LocalCAS(sys.argv[1])
shard = sys.argv[2][7:9]
same_shard = next(b"%d" % i for i in range(100000) if cid_for(b"%d" % i)[7:9] == shard)
other_shard = next(b"%d" % i for i in range(100000) if cid_for(b"%d" % i)[7:9] != shard)
calls = {
    "put": lambda: store.put(same_shard),  # its shard folder exists
    "put_in_new_shard": lambda: store.put(other_shard),
    "exists": lambda: store.exists(sys.argv[2]),
    "get": lambda: store.get(sys.argv[2]),
    "delete": lambda: store.delete(sys.argv[2]),
    "clean_partial": lambda: store.clean_partial(older_than=0),
}
for name, call in calls.items():
    try:
        call()
        print(name, "ok")
    except StorageUnavailable:
        print(name, "StorageUnavailable")
    except Exception as exc:
        print(name, type(exc).__name__)
"""


def _unprivileged_python(*args, cwd):
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to drop the permission-override capabilities")
    return subprocess.run(
        [*_UNPRIVILEGED, sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def test_unwritable_store_folders_are_an_outage_for_an_unprivileged_process(store, tmp_path):
    from pathlib import Path

    stored = store.put(b"stored before the folders became read-only")
    (store.root / ".tmp" / "left.part").write_bytes(b"partial")
    folders = [store.root, store.root / ".tmp", *[p for p in store.root.iterdir() if p.is_dir()]]
    try:
        for folder in folders:
            folder.chmod(0o555)
        result = _unprivileged_python(str(store.root), stored, cwd=Path(__file__).resolve().parents[3])
    finally:
        for folder in folders:
            folder.chmod(0o755)
    outcome = dict(line.split() for line in result.stdout.split("\n") if line.strip())
    assert outcome == {
        "put": "StorageUnavailable",  # the temp file cannot be made
        "put_in_new_shard": "StorageUnavailable",  # nor the shard folder
        "exists": "ok",  # reading still works
        "get": "ok",
        "delete": "StorageUnavailable",
        "clean_partial": "StorageUnavailable",
    }, result.stderr[-2000:]
    assert [p.name for p in (store.root / ".tmp").glob("*.part")] == ["left.part"]  # none added


@pytest.mark.parametrize("failing", ["mkdir", "mkstemp", "fsync", "replace", "dir_fsync"])
def test_each_failing_write_step_is_an_outage(store, monkeypatch, failing):
    import errno
    import tempfile
    from pathlib import Path

    def broken(*args, **kwargs):
        raise OSError(errno.EIO, f"{failing} failed")

    if failing == "mkdir":
        monkeypatch.setattr(Path, "mkdir", broken)
    elif failing == "mkstemp":
        monkeypatch.setattr(tempfile, "mkstemp", broken)
    elif failing == "fsync":
        monkeypatch.setattr(os, "fsync", broken)
    elif failing == "replace":
        monkeypatch.setattr(os, "replace", broken)
    else:
        real_fsync = os.fsync
        monkeypatch.setattr(
            os, "fsync", lambda fd: broken() if os.path.isdir(f"/proc/self/fd/{fd}") else real_fsync(fd)
        )
    with pytest.raises(StorageUnavailable):
        store.put(b"some bytes")
    assert not list(store.root.glob(".tmp/*.part"))  # a failed write leaves no partial file


def test_partial_temp_files_older_than_the_limit_are_removed(store):
    import time

    store.put(b"makes the folders")
    tmp = store.root / ".tmp"
    old, fresh, other = tmp / "abcdefgh.x1.part", tmp / "abcdefgh.x2.part", tmp / "notes.txt"
    for path in (old, fresh, other):
        path.write_bytes(b"cut off")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    os.utime(other, (hour_ago, hour_ago))
    assert store.clean_partial(older_than=300) == 1
    assert not old.exists() and fresh.exists() and other.exists()  # a write in progress stays
    assert LocalCAS(store.root / "never-used").clean_partial(older_than=300) == 0
