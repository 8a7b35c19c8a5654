"""Tiles we lay out (ledger.merkle + ledger.tiles, c2sp.org/tlog-tiles) served by a plain
http.server, read and proved by an independent verifier (aics-tlog 0.2.1: its CLI and its
VerifiedTileReader).

The tree has 1067 * 256 + 300 entries, so the paths include ``tile/0/x001/067`` (the
three-digit groups of tlog-tiles), partial tiles at levels 0, 1 and 2, and the entry bundle of
a partial tile. Entries vary in length (empty, 1-byte, 300-byte: the u16 big-endian length
prefixes) and the checkpoint carries our three signature types.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ledger import merkle, note, tiles
from tests.interop import aics
from tests.interop import c2sp_plain as c2sp

pytestmark = pytest.mark.interop

ORIGIN = "hospital-a.example/ledger"
SIZE = 1067 * 256 + 300
X_INDEX = 1067 * 256 + 5  # in tile/0/x001/067 and entry bundle tile/entries/x001/067
PARTIAL_INDEX = SIZE - 1  # in tile/0/x001/068.p/44


def _entry(i: int) -> bytes:
    if i % 1000 == 7:
        return b""
    if i % 1000 == 8:
        return bytes([i % 251]) * 300
    return f"entry {i}".encode()


def _levels(leaf_hashes: list[bytes]) -> list[list[bytes]]:
    """levels[h]: the hashes of the complete subtrees of height h, left to right."""
    levels = [leaf_hashes]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([merkle.node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return levels


def _write(base: Path, path: str, data: bytes) -> None:
    f = base / path
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(data)


def build_tiles(base: Path, entries: list[bytes]) -> int:
    """Write every tile and entry bundle of the tree of `entries` under `base`; the file count."""
    size = len(entries)
    levels = _levels([merkle.leaf_hash(e) for e in entries])
    written = 0
    for level in range(0, len(levels), tiles.TILE_HEIGHT):
        hashes = levels[level]
        tile_level = level // tiles.TILE_HEIGHT
        for index in range(0, -(-len(hashes) // tiles.TILE_WIDTH)):
            chunk = hashes[index * tiles.TILE_WIDTH : (index + 1) * tiles.TILE_WIDTH]
            width = tiles.tile_width_for(tile_level, index, size)
            assert width == len(chunk)
            _write(base, tiles.tile_path(tile_level, index, width), tiles.format_tile(chunk))
            written += 1
    for index in range(-(-size // tiles.TILE_WIDTH)):
        chunk = entries[index * tiles.TILE_WIDTH : (index + 1) * tiles.TILE_WIDTH]
        _write(base, tiles.entries_path(index, len(chunk)), tiles.format_entry_bundle(chunk))
        written += 1
    return written


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    """The tree on disk, its leaf hashes, keys and signed checkpoint, served over HTTP."""
    base = tmp_path_factory.mktemp("tlog")
    entries = [_entry(i) for i in range(SIZE)]
    leaves = [merkle.leaf_hash(e) for e in entries]
    build_tiles(base, entries)
    signers = []
    for alg in (note.ALG_ED25519, note.ALG_MLDSA, note.ALG_FALCON):
        public, private = note.generate(alg)
        signers.append(note.Signer(ORIGIN, alg, public, private))
    root = merkle.root(leaves)
    cp = note.sign_note(note.checkpoint_text(ORIGIN, SIZE, root), signers, timestamp=int(time.time()))
    (base / "checkpoint").write_text(cp)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(base)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {
        "base": base,
        "url": f"http://127.0.0.1:{server.server_address[1]}/",
        "entries": entries,
        "leaves": leaves,
        "root": root,
        "vkey": signers[0].verifier().vkey,
    }
    server.shutdown()
    server.server_close()


def test_the_tile_paths_include_grouped_indices_and_partials(log):
    base = log["base"]
    for path in ("tile/0/x001/067", "tile/0/x001/068.p/44", "tile/1/004.p/44", "tile/2/000.p/4",
                 "tile/entries/x001/067", "tile/entries/x001/068.p/44"):  # fmt: skip
        assert (base / path).is_file(), path
    assert not (base / "tile/3").exists()


def test_their_cli_verifies_our_checkpoint_and_tiles_over_http(log, aics_python):
    rc, out = aics.aics_tlog_cli(
        "verify-checkpoint", "--tiles", log["url"], "--log-key", log["vkey"], "--origin", ORIGIN
    )
    assert rc == 0 and out["ok"], out
    assert (out["size"], out["root"], out["tiles_ok"]) == (SIZE, c2sp.b64(log["root"]), True)

    for index in (0, X_INDEX, PARTIAL_INDEX):
        rc, out = aics.aics_tlog_cli(
            "verify-inclusion", "--tiles", log["url"], "--log-key", log["vkey"], "--index", str(index)
        )
        assert rc == 0 and out["ok"], out
        assert out["entry_sha256"] == hashlib.sha256(log["entries"][index]).hexdigest()
        assert out["leaf_hash"] == log["leaves"][index].hex()

    old = 1000 * 256 + 17
    rc, out = aics.aics_tlog_cli(
        "verify-consistency", "--tiles", log["url"], "--log-key", log["vkey"],
        "--old-size", str(old), "--old-root", c2sp.b64(merkle.root(log["leaves"][:old])),
    )  # fmt: skip
    assert rc == 0 and out["ok"], out


def test_their_proofs_from_our_tiles_are_our_proofs(log, aics_python):
    leaves, indices, olds = log["leaves"], [0, 7, 8, X_INDEX, PARTIAL_INDEX], [1, 256, 65536, 1000 * 256 + 17]
    theirs = aics.driver(
        "tiles", url=log["url"], size=SIZE, root=c2sp.b64(log["root"]), indices=indices, consistency_from=olds
    )
    assert theirs["ok"], theirs
    for i in indices:
        assert theirs["entries"][str(i)] == c2sp.b64(log["entries"][i])
        assert theirs["inclusion"][str(i)] == [c2sp.b64(h) for h in merkle.inclusion_proof(leaves, i)]
    for m in olds:
        assert theirs["consistency"][str(m)] == [
            c2sp.b64(h) for h in merkle.consistency_proof(leaves, m, SIZE)
        ]


def test_their_verifier_refuses_a_tampered_tile(log, aics_python):
    path = log["base"] / "tile/0/x001/067"
    good = path.read_bytes()
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    try:
        rc, out = aics.aics_tlog_cli(
            "verify-inclusion", "--tiles", log["url"], "--log-key", log["vkey"], "--index", str(X_INDEX)
        )
    finally:
        path.write_bytes(good)
    assert rc == 1 and not out["ok"]
    assert "TileVerificationError" in out["error"] and "tile/0/x001/067" in out["error"], out
