"""c2sp.org/tlog-tiles: tile paths, tile contents and entry bundles (no Django, no I/O).

A tile at level L, index N holds up to 256 consecutive Merkle tree hashes at Merkle height
8L: hash i is ``MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L])``, which in
`ledger.merkle`'s terms is node ``(8L, N*256 + i)``. Full tiles are 256 hashes (8192 bytes);
the rightmost tile of a level is *partial* (``.p/<W>``, 1..255 hashes) with
``floor(size / 256**L) mod 256`` hashes. Paths::

    tile/<L>/<N>[.p/<W>]          L: 0..63, no leading zeroes
    tile/entries/<N>[.p/<W>]      entry bundles: u16 big-endian length-prefixed entries

``<N>`` is written in 3-digit groups, all but the last prefixed with ``x``:
1234067 is ``x001/x234/067``.

A client reads any Merkle node from tiles (`node_location`, `read_nodes`): node (h, i) is
the root of ``2**(h mod 8)`` consecutive hashes of the level ``h // 8`` tile holding them.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ledger import merkle
from ledger.merkle import NodeId

TILE_HEIGHT = 8
TILE_WIDTH = 256
MAX_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF
_INDEX_PART = re.compile(r"[0-9]{3}")
_LEVEL = re.compile(r"0|[1-9][0-9]?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")


# --- paths ---------------------------------------------------------------------------------


def encode_index(n: int) -> str:
    if n < 0:
        raise ValueError("tile index must be non-negative")
    out = f"{n % 1000:03d}"
    n //= 1000
    while n:
        out = f"x{n % 1000:03d}/{out}"
        n //= 1000
    return out


def parse_index(s: str) -> int:
    """Inverse of `encode_index`; only the canonical encoding is accepted."""
    parts = s.split("/")
    n = 0
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        digits = part if last else part[1:]
        if (not last and not part.startswith("x")) or not _INDEX_PART.fullmatch(digits):
            raise ValueError(f"malformed tile index {s!r}")
        n = n * 1000 + int(digits)
    if len(parts) > 1 and parts[0] == "x000":
        raise ValueError(f"tile index {s!r} has a leading zero group")
    return n


@dataclass(frozen=True)
class TilePath:
    level: int | None  # None: an entry bundle
    index: int
    width: int | None  # None: a full tile

    @property
    def path(self) -> str:
        if self.level is None:
            return entries_path(self.index, self.width)
        return tile_path(self.level, self.index, self.width)

    @property
    def count(self) -> int:
        """Hashes (or entries) the resource holds."""
        return TILE_WIDTH if self.width is None else self.width


def _suffix(width: int | None) -> str:
    if width is None or width == TILE_WIDTH:
        return ""
    if not 1 <= width < TILE_WIDTH:
        raise ValueError(f"partial tile width {width} is not 1..255")
    return f".p/{width}"


def tile_path(level: int, index: int, width: int | None = None) -> str:
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"tile level {level} is not 0..63")
    return f"tile/{level}/{encode_index(index)}{_suffix(width)}"


def entries_path(index: int, width: int | None = None) -> str:
    return f"tile/entries/{encode_index(index)}{_suffix(width)}"


def parse_tile_path(path: str) -> TilePath:
    """Parse ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` strictly."""
    if not path.startswith("tile/"):
        raise ValueError("tile path must start with 'tile/'")
    kind, sep, rest = path[len("tile/") :].partition("/")
    if not sep:
        raise ValueError("tile path has no index")
    if kind == "entries":
        level = None
    elif _LEVEL.fullmatch(kind) and int(kind) <= MAX_LEVEL:
        level = int(kind)
    else:
        raise ValueError(f"tile level {kind!r} is not 'entries' or a decimal 0..63 without leading zeroes")
    index_s, dotp, width_s = rest.partition(".p/")
    width: int | None = None
    if dotp:
        if not _WIDTH.fullmatch(width_s) or not 1 <= int(width_s) < TILE_WIDTH:
            raise ValueError(f"partial tile width {width_s!r} is not a decimal 1..255 without leading zeroes")
        width = int(width_s)
    return TilePath(level, parse_index(index_s), width)


# --- which hashes a tile holds ------------------------------------------------------------------


def tile_node_ids(level: int, index: int, width: int) -> list[NodeId]:
    """The `ledger.merkle` node ids of the hashes in tile (level, index) of `width`, in order."""
    if not 0 <= level <= MAX_LEVEL or index < 0 or not 1 <= width <= TILE_WIDTH:
        raise ValueError("tile out of range")
    h = level * TILE_HEIGHT
    first = index * TILE_WIDTH
    return [(h, first + i) for i in range(width)]


def tile_width_for(level: int, index: int, tree_size: int) -> int:
    """Hashes tile (level, index) has in a tree of `tree_size`: 0 (none yet), 1..255 or 256."""
    if level < 0 or index < 0 or tree_size < 0:
        raise ValueError("negative tile coordinates or tree size")
    nodes = tree_size >> (level * TILE_HEIGHT)
    return max(0, min(TILE_WIDTH, nodes - index * TILE_WIDTH))


def entry_bundle_range(index: int, width: int | None = None) -> tuple[int, int]:
    """Leaf indices [start, end) of entry bundle `index`."""
    start = index * TILE_WIDTH
    return start, start + (TILE_WIDTH if width is None else width)


# --- contents ----------------------------------------------------------------------------------


def format_tile(hashes: Sequence[bytes]) -> bytes:
    if not 1 <= len(hashes) <= TILE_WIDTH or any(len(h) != merkle.HASH_SIZE for h in hashes):
        raise ValueError("a tile is 1..256 hashes of 32 bytes")
    return b"".join(hashes)


def parse_tile(data: bytes, width: int | None = None) -> list[bytes]:
    """Split tile bytes into hashes, checking the size against `width` (None: full)."""
    want = TILE_WIDTH if width is None else width
    if len(data) != want * merkle.HASH_SIZE:
        raise ValueError(f"tile is {len(data)} bytes, expected {want * merkle.HASH_SIZE}")
    return [data[i : i + merkle.HASH_SIZE] for i in range(0, len(data), merkle.HASH_SIZE)]


def format_entry_bundle(entries: Sequence[bytes]) -> bytes:
    if len(entries) > TILE_WIDTH:
        raise ValueError("an entry bundle holds at most 256 entries")
    out = []
    for e in entries:
        if len(e) > MAX_ENTRY_SIZE:
            raise ValueError(f"entry of {len(e)} bytes is longer than a u16 length allows")
        out.append(struct.pack(">H", len(e)) + e)
    return b"".join(out)


def parse_entry_bundle(b: bytes) -> list[bytes]:
    out: list[bytes] = []
    i = 0
    while i < len(b):
        if len(b) - i < 2:
            raise ValueError("entry bundle ends inside a length prefix")
        (n,) = struct.unpack_from(">H", b, i)
        i += 2
        if len(b) - i < n:
            raise ValueError("entry bundle ends inside an entry")
        out.append(bytes(b[i : i + n]))
        i += n
        if len(out) > TILE_WIDTH:
            raise ValueError("an entry bundle holds at most 256 entries")
    return out


# --- reading Merkle nodes from tiles (the client side) ---------------------------------------


def node_location(level: int, index: int) -> tuple[int, int, int, int]:
    """Where node (level, index) lives: (tile level, tile index, first hash, hash count).

    The node is the Merkle root of `count` consecutive hashes from position `first` of
    that tile.
    """
    if level < 0 or index < 0:
        raise ValueError("negative node id")
    tile_level, r = divmod(level, TILE_HEIGHT)
    first_hash = index << r  # position among all the hashes of the tile level
    tile_index, pos = divmod(first_hash, TILE_WIDTH)
    return tile_level, tile_index, pos, 1 << r


def read_nodes(
    ids: Iterable[NodeId], tree_size: int, fetch: Callable[[TilePath], bytes]
) -> dict[NodeId, bytes]:
    """Hashes of Merkle nodes, computed from tiles that `fetch(TilePath)` returns as bytes.

    Each node must be a complete subtree of the tree of `tree_size`; each tile is fetched
    once, at the width that tree size implies (full, or the partial width).
    """
    tiles: dict[tuple[int, int], list[bytes]] = {}
    out: dict[NodeId, bytes] = {}
    for level, index in ids:
        if (index + 1) << level > tree_size:
            raise merkle.ProofError(f"node ({level}, {index}) is not complete in a tree of size {tree_size}")
        tl, ti, pos, count = node_location(level, index)
        if (tl, ti) not in tiles:
            width = tile_width_for(tl, ti, tree_size)
            tiles[tl, ti] = parse_tile(fetch(TilePath(tl, ti, None if width == TILE_WIDTH else width)), width)
        out[level, index] = merkle.root(tiles[tl, ti][pos : pos + count])
    return out
