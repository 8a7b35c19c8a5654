"""c2sp.org/tlog-tiles: paths, widths, bundles, and a client that reads a tree from tiles alone."""

import pytest

from ledger import merkle, tiles
from ledger.tiles import TilePath

pytestmark = pytest.mark.smoke


def test_index_encoding_follows_the_spec():
    assert tiles.encode_index(1234067) == "x001/x234/067"
    assert tiles.encode_index(0) == "000" and tiles.encode_index(999) == "999"
    assert tiles.encode_index(1000) == "x001/000"
    for n in (0, 7, 999, 1000, 1234067, 10**12 + 5):
        assert tiles.parse_index(tiles.encode_index(n)) == n
    for bad in ("", "1", "0001", "x001", "001/002", "x000/001", "x01/002", "xa01/002", "x001/x234/67", "-01"):
        with pytest.raises(ValueError):
            tiles.parse_index(bad)


def test_tile_paths():
    assert tiles.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tiles.tile_path(1, 5, 17) == "tile/1/005.p/17"
    assert tiles.tile_path(2, 0, 256) == "tile/2/000"
    assert tiles.entries_path(1234067, 112) == "tile/entries/x001/x234/067.p/112"
    assert tiles.parse_tile_path("tile/0/x001/x234/067") == TilePath(0, 1234067, None)
    assert tiles.parse_tile_path("tile/63/000.p/255") == TilePath(63, 0, 255)
    assert tiles.parse_tile_path("tile/entries/x001/234.p/5") == TilePath(None, 1234, 5)
    for p in (TilePath(3, 1000, None), TilePath(None, 7, 1), TilePath(0, 0, 200)):
        assert tiles.parse_tile_path(p.path) == p
    for bad in (
        "tile/00/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/1.5/000",
        "tile/0/1",
        "tile/0/x000/001",
        "tile/0/001.p/0",
        "tile/0/001.p/256",
        "tile/0/001.p/012",
        "tile/0/001.p/",
        "tile/0/001.p/5/6",
        "tile/0/001/",
        "tile//001",
        "tile/0",
        "tiles/0/001",
        "/tile/0/001",
        "tile/entry/001",
        "tile/0/../001",
    ):
        with pytest.raises(ValueError):
            tiles.parse_tile_path(bad)
    with pytest.raises(ValueError):
        tiles.tile_path(64, 0)
    with pytest.raises(ValueError):
        tiles.entries_path(0, 0)


def test_widths_match_the_spec_examples():
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
    # tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
    # partial level 2 tile of width 1"
    size = 70000
    assert [tiles.tile_width_for(0, n, size) for n in (0, 272, 273, 274)] == [256, 256, 112, 0]
    assert [tiles.tile_width_for(1, n, size) for n in (0, 1, 2)] == [256, 17, 0]
    assert [tiles.tile_width_for(2, n, size) for n in (0, 1)] == [1, 0]
    assert tiles.tile_width_for(3, 0, size) == 0
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
    # tile of width 1"
    assert (tiles.tile_width_for(0, 0, 256), tiles.tile_width_for(0, 1, 256)) == (256, 0)
    assert tiles.tile_width_for(1, 0, 256) == 1
    assert tiles.tile_node_ids(1, 1, 3) == [(8, 256), (8, 257), (8, 258)]
    assert tiles.tile_node_ids(0, 0, 256)[-1] == (0, 255)
    assert tiles.node_location(0, 300) == (0, 1, 44, 1)
    assert tiles.node_location(3, 40) == (0, 1, 64, 8)  # leaves 320..327
    assert tiles.node_location(8, 2) == (1, 0, 2, 1)
    assert tiles.node_location(10, 1) == (1, 0, 4, 4)


def test_entry_bundles():
    entries = [b"", b"a", b"x" * 0xFFFF, bytes(range(256))]
    bundle = tiles.format_entry_bundle(entries)
    assert bundle[:5] == b"\x00\x00\x00\x01a"
    assert tiles.parse_entry_bundle(bundle) == entries
    assert tiles.parse_entry_bundle(b"") == []
    with pytest.raises(ValueError):
        tiles.format_entry_bundle([b"x" * 0x10000])
    with pytest.raises(ValueError):
        tiles.format_entry_bundle([b""] * 257)
    for bad in (bundle[:-1], b"\x00", b"\x00\x05abc", b"\x00\x00" * 257):
        with pytest.raises(ValueError):
            tiles.parse_entry_bundle(bad)
    assert tiles.entry_bundle_range(2) == (512, 768) and tiles.entry_bundle_range(2, 5) == (512, 517)


class TiledLog:
    """A log as a tiles server sees it: every resource for one tree size, from a dict."""

    def __init__(self, entries: list[bytes]):
        self.size = len(entries)
        nodes: dict = {}
        cr = merkle.CompactRange(on_node=lambda level, idx, h: nodes.__setitem__((level, idx), h))
        for e in entries:
            cr.append(merkle.leaf_hash(e))
        self.root = cr.root()
        self.files: dict[str, bytes] = {}
        level = 0
        while self.size >> (level * tiles.TILE_HEIGHT):
            n = 0
            while width := tiles.tile_width_for(level, n, self.size):
                path = tiles.tile_path(level, n, width)
                self.files[path] = tiles.format_tile([nodes[i] for i in tiles.tile_node_ids(level, n, width)])
                if level == 0:
                    start, end = tiles.entry_bundle_range(n, width)
                    self.files[tiles.entries_path(n, width)] = tiles.format_entry_bundle(entries[start:end])
                n += 1
            level += 1
        self.fetched: list[str] = []

    def fetch(self, tile: TilePath) -> bytes:
        self.fetched.append(tile.path)
        return self.files[tile.path]


@pytest.fixture(scope="module")
def entries():
    return [b"entry %d" % i for i in range(1000)]


def test_a_client_recomputes_root_and_proofs_from_tiles_alone(entries):
    log = TiledLog(entries)
    assert sorted(p for p in log.files if not p.startswith("tile/entries")) == [
        "tile/0/000",
        "tile/0/001",
        "tile/0/002",
        "tile/0/003.p/232",
        "tile/1/000.p/3",
    ]
    leaf_hashes = [merkle.leaf_hash(e) for e in entries]

    root_plan = merkle.root_nodes(log.size)
    got = tiles.read_nodes(root_plan, log.size, log.fetch)
    assert merkle.fold_right([got[n] for n in root_plan]) == log.root == merkle.root(leaf_hashes)

    for index in (0, 255, 256, 700, 767, 768, 999):
        plan = merkle.inclusion_nodes(index, log.size)
        proof = merkle.assemble(plan, tiles.read_nodes(merkle.unique_nodes(plan), log.size, log.fetch))
        assert proof == merkle.inclusion_proof(leaf_hashes, index)
        merkle.verify_inclusion(index, log.size, leaf_hashes[index], proof, log.root)

    for first in (1, 256, 300, 512, 999):
        plan = merkle.consistency_nodes(first, log.size)
        proof = merkle.assemble(plan, tiles.read_nodes(merkle.unique_nodes(plan), log.size, log.fetch))
        merkle.verify_consistency(first, log.size, merkle.root(leaf_hashes[:first]), log.root, proof)

    # the entries: each bundle hashes to its level-0 tile
    for n in range(4):
        width = tiles.tile_width_for(0, n, log.size)
        bundle = tiles.parse_entry_bundle(log.files[tiles.entries_path(n, width)])
        tile = tiles.parse_tile(log.fetch(TilePath(0, n, None if width == 256 else width)), width)
        assert [merkle.leaf_hash(e) for e in bundle] == tile


def test_reading_nodes_fetches_each_tile_once_and_only_complete_nodes(entries):
    log = TiledLog(entries)
    tiles.read_nodes([(0, 5), (1, 7), (8, 1), (9, 0)], log.size, log.fetch)
    assert log.fetched == ["tile/0/000", "tile/1/000.p/3"]
    with pytest.raises(merkle.ProofError):  # leaves 992..1007 are not all there yet
        tiles.read_nodes([(4, 62)], log.size, log.fetch)
    with pytest.raises(ValueError):  # a tile of the wrong length is refused
        tiles.read_nodes([(0, 1)], log.size, lambda tile: b"\x00" * 31)
