"""RFC 9162 Merkle tree maths (no Django, no I/O).

Hashing (RFC 9162 section 2.1.1, SHA-256):

    leaf  = SHA-256(0x00 || data)
    node  = SHA-256(0x01 || left || right)
    empty = SHA-256("")

Proof *generation* here is pure index arithmetic: it says which stored subtrees are needed
(`inclusion_nodes`, `consistency_nodes`), never reads them. A caller fetches the hashes of
those node ids (O(log n) of them) from wherever they live and calls `assemble` to turn them
into the RFC proof. Proof *verification* (`verify_inclusion`, `verify_consistency`) is the
RFC 9162 section 2.1.3.2 / 2.1.4.2 algorithm and only ever sees hashes.

Node ids are `(level, index)`: the perfect subtree covering leaves
`[index << level, (index + 1) << level)`. Level 0 nodes are leaf hashes. A proof element that
is not a perfect subtree (the right border of a tree whose size is not a power of two) is a
*range*, the right-to-left fold of the perfect subtrees that tile it (its "compact range").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]


class ProofError(ValueError):
    """A proof does not verify, or a request for one is out of range."""


# --- hashing -------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """Hash of a range given the perfect subtrees that tile it, left to right."""
    if not hashes:
        raise ValueError("empty range")
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


# --- index arithmetic -----------------------------------------------------------------


def _largest_pow2_below(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(begin: int, end: int) -> list[NodeId]:
    """Perfect subtrees tiling [begin, end), left to right (the compact range).

    For the ranges that occur in RFC 9162 trees (begin aligned to the subtree size) the
    pieces have decreasing sizes and their right fold equals MTH(D[begin:end]).
    """
    if not 0 <= begin < end:
        raise ValueError(f"bad range [{begin}, {end})")
    out: list[NodeId] = []
    while begin < end:
        level = (begin & -begin).bit_length() - 1 if begin else (end - begin).bit_length()
        while (1 << level) > end - begin:
            level -= 1
        out.append((level, begin >> level))
        begin += 1 << level
    return out


def completed_nodes(index: int) -> list[NodeId]:
    """Perfect subtrees that become complete when leaf `index` is appended (level 0 first)."""
    out = [(0, index)]
    level, i = 0, index
    while i & 1:
        level, i = level + 1, i >> 1
        out.append((level, i))
    return out


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """RFC 9162 PATH(index, D[0:size]) as leaf ranges, leaf-side first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    out: list[tuple[int, int]] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _largest_pow2_below(hi - lo)
        if m < k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m = lo + k, m - k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """RFC 9162 PROOF(first, D[0:second]) as leaf ranges, in proof order."""
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first == 0 or first == second:
        return []
    out: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, second, first, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                out.append((lo, hi))
            break
        k = _largest_pow2_below(n)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    out.reverse()
    return out


def nodes_for(ranges: Iterable[tuple[int, int]]) -> list[list[NodeId]]:
    return [range_nodes(a, b) for a, b in ranges]


def inclusion_nodes(index: int, size: int) -> list[list[NodeId]]:
    """Node ids needed for an inclusion proof: one list (a compact range) per proof hash."""
    return nodes_for(inclusion_ranges(index, size))


def consistency_nodes(first: int, second: int) -> list[list[NodeId]]:
    return nodes_for(consistency_ranges(first, second))


def root_nodes(size: int) -> list[NodeId]:
    return range_nodes(0, size) if size else []


def assemble(plan: Sequence[Sequence[NodeId]], hashes: Mapping[NodeId, bytes]) -> list[bytes]:
    """Turn a node plan plus fetched node hashes into the list of proof hashes."""
    try:
        return [fold_right([hashes[n] for n in group]) for group in plan]
    except KeyError as exc:
        raise ProofError(f"missing stored node {exc.args[0]}") from None


def unique_nodes(plan: Iterable[Iterable[NodeId]]) -> set[NodeId]:
    return {n for group in plan for n in group}


# --- whole-tree computation -----------------------------------------------------------


class CompactRange:
    """Streaming root computation: push leaf hashes, O(log n) memory.

    `on_node(level, index, hash)` is called for every perfect subtree as it completes,
    which is exactly what a store of interior hashes needs.
    """

    __slots__ = ("size", "_stack", "_on_node")

    def __init__(
        self,
        size: int = 0,
        stack: Sequence[bytes] = (),
        on_node: Callable[[int, int, bytes], object] | None = None,
    ):
        if len(stack) != bin(size).count("1"):
            raise ValueError("compact range does not match size")
        self.size = size
        self._stack = list(stack)  # hashes of range_nodes(0, size), left to right
        self._on_node = on_node

    @property
    def hashes(self) -> list[bytes]:
        return list(self._stack)

    def append(self, leaf: bytes) -> None:
        i = self.size
        h = leaf
        cb = self._on_node
        if cb:
            cb(0, i, h)
        level = 0
        while i & 1:
            h = node_hash(self._stack.pop(), h)
            level, i = level + 1, i >> 1
            if cb:
                cb(level, i, h)
        self._stack.append(h)
        self.size += 1

    def root(self) -> bytes:
        return fold_right(self._stack) if self._stack else EMPTY_ROOT


def root(leaves: Iterable[bytes]) -> bytes:
    """MTH of a sequence of leaf hashes."""
    cr = CompactRange()
    for h in leaves:
        cr.append(h)
    return cr.root()


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Convenience for in-memory trees (tests, exports): proof from leaf hashes."""
    return [_range_hash(leaves, a, b) for a, b in inclusion_ranges(index, len(leaves))]


def consistency_proof(leaves: Sequence[bytes], first: int, second: int) -> list[bytes]:
    if second > len(leaves):
        raise ProofError("second size beyond the leaves given")
    return [_range_hash(leaves, a, b) for a, b in consistency_ranges(first, second)]


def _range_hash(leaves: Sequence[bytes], a: int, b: int) -> bytes:
    return root(leaves[a:b])


# --- verification (RFC 9162 section 2.1.3.2 and 2.1.4.2) --------------------------------


def _check_hash(h: bytes, what: str) -> None:
    if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf, "leaf hash")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _check_hash(p, "proof element")
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes) -> None:
    """Raise ProofError unless `proof` shows `leaf` at `index` in the tree `root_hash`."""
    _check_hash(root_hash, "root hash")
    if root_from_inclusion(index, size, leaf, proof) != root_hash:
        raise ProofError("inclusion proof does not lead to the root hash")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless `proof` shows tree `first_root` is a prefix of `second_root`."""
    _check_hash(first_root, "first root")
    _check_hash(second_root, "second root")
    if not 0 <= first <= second:
        raise ProofError(f"first size {first} is greater than second size {second}")
    for p in proof:
        _check_hash(p, "proof element")
    if first == second:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if first_root != second_root:
            raise ProofError("roots differ for the same tree size")
        return
    if first == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root is implied
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != first_root:
        raise ProofError("consistency proof does not lead to the first root")
    if sr != second_root:
        raise ProofError("consistency proof does not lead to the second root")
