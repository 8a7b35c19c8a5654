"""The c2sp.org/tlog-tiles endpoints under /tlog/: a client that knows nothing but the HTTP
answers recomputes the checkpoint's root and an inclusion proof from the tiles; entry bundles
hash to the level-0 tiles and hold no health data; caching, 404 beyond the tree, 400 for
malformed paths."""

from __future__ import annotations

import pytest

from ledger import merkle, note, tiles
from ledger.models import Entry
from ledger.selectors import verifiers
from tests.federation.logside import grow_log

pytestmark = pytest.mark.django_db

SIZE = 600  # two full level-0 tiles, a partial one of 88, a partial level-1 tile of 2


@pytest.fixture
def log():
    return grow_log(SIZE)


def _fetch(client):
    def fetch(tp: tiles.TilePath) -> bytes:
        resp = client.get(f"/tlog/{tp.path}")
        assert resp.status_code == 200, (tp.path, resp.content)
        assert resp["Content-Type"] == "application/octet-stream"
        return resp.content

    return fetch


def test_root_and_inclusion_proof_from_the_tiles_alone(client, log):
    resp = client.get("/tlog/checkpoint")
    assert resp.status_code == 200 and resp["Cache-Control"] == "no-cache"
    assert resp["Content-Type"] == "text/plain; charset=utf-8"
    text, _ = note.open_note(resp.content.decode(), verifiers())
    cp = note.parse_checkpoint(text)
    assert cp.size == SIZE
    fetch = _fetch(client)

    plan = [merkle.root_nodes(cp.size)]
    assert merkle.assemble(plan, tiles.read_nodes(merkle.unique_nodes(plan), cp.size, fetch)) == [cp.root]

    index = 517  # in the partial level-0 tile
    bundle = tiles.parse_entry_bundle(fetch(tiles.TilePath(None, index // 256, SIZE % 256)))
    leaf = merkle.leaf_hash(bundle[index % 256])
    plan = merkle.inclusion_nodes(index, cp.size)
    proof = merkle.assemble(plan, tiles.read_nodes(merkle.unique_nodes(plan), cp.size, fetch))
    merkle.verify_inclusion(index, cp.size, leaf, proof, cp.root)


def test_entry_bundles_hash_to_the_level_0_tiles(client, log):
    fetch = _fetch(client)
    for index, width in ((0, None), (1, None), (2, SIZE % 256)):
        entries = tiles.parse_entry_bundle(fetch(tiles.TilePath(None, index, width)))
        hashes = tiles.parse_tile(fetch(tiles.TilePath(0, index, width)), width)
        assert [merkle.leaf_hash(e) for e in entries] == hashes
    stored = list(Entry.objects.filter(index__lt=256).order_by("index").values_list("leaf_hash", flat=True))
    assert hashes_of(fetch(tiles.TilePath(0, 0, None))) == [bytes(h) for h in stored]


def hashes_of(data: bytes) -> list[bytes]:
    return tiles.parse_tile(data)


def test_entries_about_patients_carry_commitments_only(client, db):
    from ledger.services import append_all, create_checkpoint, record_event

    patient = "c0ffee" * 5 + "ab"
    scan_id = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    record_event(
        event_type="scan.accessed",
        payload={"scan_id": scan_id, "actor": "d0c" * 10 + "00", "patient": patient, "decision": "allow"},
    )
    append_all()
    create_checkpoint()
    [raw] = tiles.parse_entry_bundle(client.get("/tlog/tile/entries/000.p/1").content)
    assert b'"commitments"' in raw and b'"v":2' in raw
    for secret in (patient, scan_id, "allow"):
        assert secret.encode() not in raw


def test_cache_headers_full_tiles_forever_partial_ones_briefly(client, log):
    full = client.get("/tlog/tile/0/000")
    partial = client.get("/tlog/tile/0/002.p/88")
    assert full["Cache-Control"] == "public, max-age=31536000, immutable"
    assert len(full.content) == 8192
    assert partial["Cache-Control"] == "public, max-age=60" and len(partial.content) == 88 * 32
    # a partial tile of an older, smaller tree is still served (its hashes never change)
    assert client.get("/tlog/tile/0/000.p/10").content == full.content[: 10 * 32]
    assert client.get("/tlog/tile/1/000.p/2").status_code == 200
    assert client.head("/tlog/tile/0/000").status_code == 200


BEYOND = [
    "tile/0/002",  # the third level-0 tile is partial (88)
    "tile/0/002.p/89",
    "tile/0/003.p/1",
    "tile/1/000",
    "tile/2/000.p/1",
    "tile/entries/002",
    "tile/entries/x001/000",
    "tile/63/x999/x999/x999/x999/x999/x999/999",
    "tile/entries/x999/x999/x999/x999/x999/x999/999",
]


def test_tiles_beyond_the_tree_are_404(client, log):
    for path in BEYOND:
        resp = client.get(f"/tlog/{path}")
        assert resp.status_code == 404 and b"beyond the tree" in resp.content, path


@pytest.mark.parametrize(
    "path",
    [
        "tile/00/000",
        "tile/64/000",
        "tile/0/1",
        "tile/0/x000/001",
        "tile/0/001/",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/010",
        "tile/-1/000",
        "tile/entries/abc",
        "tile/entries/000.p/",
        "tile/x/000",
        "tile/0",
    ],
)
def test_malformed_tile_paths_are_400(client, db, path):
    resp = client.get(f"/tlog/{path}")
    assert resp.status_code == 400 and resp.content.startswith(b"malformed tile path")


def test_only_reads_are_allowed_and_an_empty_log_has_no_checkpoint(client, db):
    assert client.get("/tlog/checkpoint").status_code == 404
    assert client.post("/tlog/tile/0/000").status_code == 405
    assert client.get("/tlog/tile/0/000.p/1").status_code == 404
