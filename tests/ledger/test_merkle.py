"""RFC 9162 Merkle maths: known answers, negative cases, cross-check with a naive reference."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.merkle import ProofError
from tests.ledger import reference as ref

pytestmark = pytest.mark.smoke

# RFC 6962 / 9162 reference tree inputs (as used by the CT and transparency-dev test suites)
LEAVES = [
    bytes.fromhex(x)
    for x in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
H = [merkle.leaf_hash(x) for x in LEAVES]


def test_empty_tree_root():
    assert merkle.root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", range(1, 9))
def test_reference_tree_roots(n):
    assert merkle.root(H[:n]).hex() == ROOTS[n - 1]


def test_inclusion_known_answer():
    assert [p.hex() for p in merkle.inclusion_proof(H, 0)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


def _rfc_example():
    # RFC 9162 section 2.1.5: the 7-leaf tree with nodes named a..l
    a, b, c, d, e, f, j = H[:7]
    g, h, i = merkle.node_hash(a, b), merkle.node_hash(c, d), merkle.node_hash(e, f)
    k, l = merkle.node_hash(g, h), merkle.node_hash(i, j)  # noqa: E741
    return dict(a=a, b=b, c=c, d=d, e=e, f=f, g=g, h=h, i=i, j=j, k=k, l=l)


def test_rfc_example_paths_and_proofs():
    n = _rfc_example()
    t = H[:7]
    assert merkle.inclusion_proof(t, 0) == [n["b"], n["h"], n["l"]]
    assert merkle.inclusion_proof(t, 3) == [n["c"], n["g"], n["l"]]
    assert merkle.inclusion_proof(t, 4) == [n["f"], n["j"], n["k"]]
    assert merkle.inclusion_proof(t, 6) == [n["i"], n["k"]]
    assert merkle.consistency_proof(t, 3, 7) == [n["c"], n["d"], n["g"], n["l"]]
    assert merkle.consistency_proof(t, 4, 7) == [n["l"]]
    assert merkle.consistency_proof(t, 6, 7) == [n["i"], n["j"], n["k"]]


def _flip(b: bytes, bit: int) -> bytes:
    x = bytearray(b)
    x[bit // 8] ^= 1 << (bit % 8)
    return bytes(x)


def test_inclusion_negative_cases():
    t = H[:7]
    root = merkle.root(t)
    proof = merkle.inclusion_proof(t, 4)
    merkle.verify_inclusion(4, 7, t[4], proof, root)
    with pytest.raises(ProofError):  # wrong leaf
        merkle.verify_inclusion(4, 7, t[5], proof, root)
    with pytest.raises(ProofError):  # wrong index
        merkle.verify_inclusion(5, 7, t[4], proof, root)
    for j in range(len(proof)):  # every one-bit change in the proof
        for bit in range(256):
            bad = list(proof)
            bad[j] = _flip(bad[j], bit)
            with pytest.raises(ProofError):
                merkle.verify_inclusion(4, 7, t[4], bad, root)
    with pytest.raises(ProofError):  # truncated
        merkle.verify_inclusion(4, 7, t[4], proof[:-1], root)
    with pytest.raises(ProofError):  # over-long
        merkle.verify_inclusion(4, 7, t[4], proof + [proof[0]], root)
    with pytest.raises(ProofError):  # index >= size
        merkle.verify_inclusion(7, 7, t[4], proof, root)
    with pytest.raises(ProofError):
        merkle.inclusion_nodes(7, 7)
    with pytest.raises(ProofError):  # wrong root
        merkle.verify_inclusion(4, 7, t[4], proof, merkle.root(t[:6]))
    with pytest.raises(ProofError):  # short hash
        merkle.verify_inclusion(4, 7, t[4], [proof[0][:31]] + proof[1:], root)


def test_consistency_negative_cases():
    t = H[:8]
    r3, r7 = merkle.root(t[:3]), merkle.root(t[:7])
    proof = merkle.consistency_proof(t, 3, 7)
    merkle.verify_consistency(3, 7, r3, r7, proof)
    with pytest.raises(ProofError):  # swapped roots
        merkle.verify_consistency(3, 7, r7, r3, proof)
    with pytest.raises(ProofError):  # first > second
        merkle.verify_consistency(7, 3, r7, r3, proof)
    with pytest.raises(ProofError):
        merkle.consistency_nodes(7, 3)
    for j in range(len(proof)):
        for bit in range(0, 256, 7):
            bad = list(proof)
            bad[j] = _flip(bad[j], bit)
            with pytest.raises(ProofError):
                merkle.verify_consistency(3, 7, r3, r7, bad)
    with pytest.raises(ProofError):
        merkle.verify_consistency(3, 7, r3, r7, proof[:-1])
    with pytest.raises(ProofError):
        merkle.verify_consistency(3, 7, r3, r7, proof + [proof[0]])
    with pytest.raises(ProofError):
        merkle.verify_consistency(3, 7, r3, r7, [])
    with pytest.raises(ProofError):  # same size, different roots
        merkle.verify_consistency(7, 7, r7, merkle.root(t[:8]), [])
    merkle.verify_consistency(7, 7, r7, r7, [])
    merkle.verify_consistency(0, 7, merkle.EMPTY_ROOT, r7, [])
    r4 = merkle.root(t[:4])  # power-of-two first size
    merkle.verify_consistency(4, 8, r4, merkle.root(t), merkle.consistency_proof(t, 4, 8))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_cross_check_against_naive_reference(data_leaves, data):
    n = len(data_leaves)
    hashes = [merkle.leaf_hash(x) for x in data_leaves]
    root = ref.mth(data_leaves)
    store = {}
    cr = merkle.CompactRange(on_node=lambda lv, ix, h: store.__setitem__((lv, ix), h))
    for h in hashes:
        cr.append(h)
    assert cr.root() == root == merkle.root(hashes)
    m = data.draw(st.integers(0, n - 1))
    proof = merkle.assemble(merkle.inclusion_nodes(m, n), store)
    assert proof == ref.path(m, data_leaves)
    merkle.verify_inclusion(m, n, hashes[m], proof, root)
    first = data.draw(st.integers(1, n))
    cproof = merkle.assemble(merkle.consistency_nodes(first, n), store)
    assert cproof == ref.proof(first, data_leaves)
    merkle.verify_consistency(first, n, ref.mth(data_leaves[:first]), root, cproof)
    # the plan reads O(log n) stored nodes
    assert len(merkle.unique_nodes(merkle.inclusion_nodes(m, n))) <= 2 * max(1, n.bit_length())


def test_completed_nodes_match_compact_range():
    seen = []
    cr = merkle.CompactRange(on_node=lambda lv, ix, h: seen.append((lv, ix)))
    for i in range(37):
        seen.clear()
        cr.append(merkle.leaf_hash(bytes([i])))
        assert seen == merkle.completed_nodes(i)
