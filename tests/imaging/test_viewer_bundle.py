"""The committed viewer bundle (static/viewer/) is the build of the committed sources and lock
(viewer/: package-lock.json, src/, build.mjs): BUILD.json, written by viewer/build.mjs, names
the SHA-256 of each, and of each file it wrote. A source or lock change without `make viewer`
fails here. The bundle itself ships no WebAssembly and keeps the page's policy."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "viewer"
BUNDLE = ROOT / "static" / "viewer"


def _build() -> dict:
    return json.loads((BUNDLE / "BUILD.json").read_text())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_bundle_was_built_from_the_committed_lock_and_sources():
    build = _build()
    assert build["package_lock_sha256"] == _sha256((SOURCE / "package-lock.json").read_bytes()), (
        "viewer/package-lock.json changed since the bundle was built: run `make viewer`"
    )
    sources = "".join(f"{p.name}\0{p.read_text()}\0" for p in sorted((SOURCE / "src").iterdir()))
    sources += (SOURCE / "build.mjs").read_text()
    assert build["sources_sha256"] == _sha256(sources.encode()), (
        "viewer/src or viewer/build.mjs changed since the bundle was built: run `make viewer`"
    )


def test_the_bundle_is_what_the_build_wrote():
    files = _build()["files"]
    on_disk = {p.name for p in BUNDLE.iterdir()} - {"BUILD.json"}
    assert set(files) == on_disk
    for name, digest in files.items():
        assert _sha256((BUNDLE / name).read_bytes()) == digest, f"static/viewer/{name} was edited by hand"


def test_the_pinned_versions_are_the_locked_ones():
    lock = json.loads((SOURCE / "package-lock.json").read_text())["packages"]
    manifest = json.loads((SOURCE / "package.json").read_text())
    pinned = {**manifest["dependencies"], **manifest["devDependencies"]}
    for name, version in _build()["packages"].items():
        assert pinned[name] == version == lock[f"node_modules/{name}"]["version"]


def test_no_webassembly_and_no_style_attribute_in_the_bundle():
    names = [p.name for p in BUNDLE.iterdir()]
    assert not [n for n in names if n.endswith(".wasm")]
    viewer = (BUNDLE / "viewer.js").read_text()
    assert "WebAssembly.instantiate" not in viewer + (BUNDLE / "decode-worker.js").read_text()
    assert 'setAttribute("style"' not in viewer and "setAttribute('style'" not in viewer
    assert 'new URL("./decode-worker.js",import.meta.url)' in viewer
