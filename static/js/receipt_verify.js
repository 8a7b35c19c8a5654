// Checks a ledger receipt's inclusion proof in the browser (RFC 9162, SHA-256 via WebCrypto):
// the entry's leaf hash, hashed up along the proof, must give the root of the signed checkpoint.
"use strict";
(function () {
  const out = document.getElementById("browser-check");
  if (!out) return;

  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const hex = (s) => Uint8Array.from(s.match(/../g) || [], (h) => parseInt(h, 16));
  const equal = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

  async function nodeHash(left, right) {
    const data = new Uint8Array(1 + left.length + right.length);
    data[0] = 1;
    data.set(left, 1);
    data.set(right, 1 + left.length);
    return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  }

  // RFC 9162 section 2.1.3.2
  async function rootFromProof(index, size, leaf, proof) {
    if (index >= size) throw new Error("index beyond the tree");
    let fn = BigInt(index), sn = BigInt(size) - 1n, r = leaf;
    for (const p of proof) {
      if (sn === 0n) throw new Error("proof too long");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Error("proof too short");
    return r;
  }

  function checkpointBody(note) {
    const lines = note.split("\n\n")[0].split("\n");
    return { size: Number(lines[1]), root: b64(lines[2]) };
  }

  async function verify() {
    const response = await fetch(out.dataset.receiptUrl, { credentials: "same-origin" });
    if (!response.ok) throw new Error("receipt not available");
    const receipt = await response.json();
    const cp = checkpointBody(receipt.checkpoint);
    if (cp.size !== receipt.tree_size) throw new Error("tree size differs from the checkpoint");
    const leaf = hex(receipt.entry.leaf_hash);
    const proof = receipt.inclusion_proof.map(b64);
    const root = await rootFromProof(receipt.entry.index, cp.size, leaf, proof);
    return equal(root, cp.root);
  }

  verify()
    .then((ok) => {
      out.textContent = ok ? "verified in your browser" : "FAILED: the proof does not lead to the signed root";
      out.className = ok ? "badge ok" : "badge bad";
    })
    .catch((err) => {
      out.textContent = "FAILED: " + err.message;
      out.className = "badge bad";
    });
})();
