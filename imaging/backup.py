"""Backups that restore: `python manage.py backup DIR` and `python manage.py restore DIR`.

A backup directory holds
- ``database.dump``: ``pg_dump --format=custom`` of the PostgreSQL database, or
  ``database.sqlite3``: the SQLite online backup of the embedded default;
- ``blobs/<shard>/<cid>``: a copy of every blob the database references in the local blob
  store (each checked against its CID; orphans are left out), or ``pinned-cids.txt``: the CIDs the database references, when the blobs are on IPFS;
- ``keys/<name>.secret``: the key files under the var directory other than the master key
  (the sealed private keys themselves are rows in the database);
- ``manifest.json``: the SHA-256 and size of every file above, the database engine, and the
  master key's id (an HKDF-derived fingerprint, never the key), written last.

Never the master key: restoring needs the same master key (QMC_MASTER_KEY, or its 0600 file
in the embedded default), kept apart from the backups.

Consistency: the database is dumped first (one snapshot: pg_dump's transaction, SQLite's
backup API), the blobs copied after. Blobs are content-addressed and written before the row
that references them commits, so every blob the dumped rows reference is already in the store
when the copy starts; blobs added during the copy are extra and harmless.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3

# pg_dump / pg_restore run with an argument list, never through a shell
import subprocess  # nosec B404
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection

from core import keyvault
from crypto.sealing import derive
from imaging.storage import LocalCAS, cid_for

FORMAT = "qmedchain-backup/1"
MANIFEST = "manifest.json"
MASTER_KEY_FILE = "qmc_master_key.secret"
# master-key material, never in a backup: the master key, the one a rotation replaces, and the
# original one that derives the pseudonyms after a rotation (keep them with the master key)
MASTER_KEY_FILES = frozenset(
    {MASTER_KEY_FILE, "qmc_master_key_previous.secret", "qmc_key_derivation_root.secret"}
)
_SECRET_NAME = re.compile(r"\A[a-z0-9_]+\.secret\Z")


class BackupError(Exception):
    """The backup or restore cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Summary:
    directory: Path
    files: int
    blobs: int
    database: str


def master_key_id() -> str:
    """Which master key sealed the keys in a backup: 16 hex digits derived (HKDF) from it."""
    return derive(keyvault.sealing_key(), b"backup-key-id")[:8].hex()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _engine() -> str:
    vendor = connection.vendor
    if vendor not in {"postgresql", "sqlite"}:
        raise BackupError(f"backups support PostgreSQL and SQLite, not {vendor}")
    return vendor


def _pg_env() -> tuple[list[str], dict[str, str]]:
    db = settings.DATABASES["default"]
    args = ["--host", str(db.get("HOST") or "127.0.0.1"), "--port", str(db.get("PORT") or 5432)]
    args += ["--username", str(db.get("USER") or "postgres")]
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return args, env


def _pg_tool(name: str) -> str:
    """`name` (pg_dump / pg_restore) on PATH, at least as new as the server, or BackupError."""
    tool = shutil.which(name)
    if not tool:
        raise BackupError(f"{name} is not on PATH: install the PostgreSQL client tools (postgresql-client)")
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout  # nosec B603
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    tool_major = int(match.group(1)) if match else 0
    server_major = connection.pg_version // 10000
    if tool_major < server_major:
        raise BackupError(
            f"{name} {tool_major} is older than the PostgreSQL server ({server_major}): "
            f"install the client tools of version {server_major} or newer"
        )
    return tool


def _referenced_cids() -> list[str]:
    from imaging.models import ScanObject, StagedObject

    cids: set[str] = set(ScanObject.objects.values_list("cid", flat=True))
    cids |= set(StagedObject.objects.values_list("cid", flat=True))
    from django.apps import apps

    for model in apps.get_app_config("imaging").get_models():
        if model not in (ScanObject, StagedObject) and any(f.name == "cid" for f in model._meta.fields):
            cids |= set(model.objects.values_list("cid", flat=True))
    return sorted(c for c in cids if c)


def backup(directory: Path) -> Summary:
    """Write a backup into `directory` (which must be empty or absent)."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty: back up into a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    engine = _engine()
    files: dict[str, dict] = {}

    if engine == "postgresql":
        tool = _pg_tool("pg_dump")
        args, env = _pg_env()
        target = directory / "database.dump"
        name = str(settings.DATABASES["default"]["NAME"])
        done = subprocess.run(  # nosec B603
            [tool, *args, "--format=custom", "--no-owner", "--no-privileges", "--file", str(target), name],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise BackupError(f"pg_dump failed: {done.stderr.strip()[-500:]}")
        database = "database.dump"
    else:
        target = directory / "database.sqlite3"
        source = sqlite3.connect(str(settings.DATABASES["default"]["NAME"]))
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy)  # the online backup API: a consistent copy while others write
        finally:
            copy.close()
            source.close()
        database = "database.sqlite3"

    blobs = 0
    if settings.IPFS_API_URL:
        pinned = directory / "pinned-cids.txt"
        cids = _referenced_cids()
        pinned.write_text("".join(c + "\n" for c in cids))
        blobs = len(cids)
    else:
        # the blobs the dumped rows may reference: an orphan (a write whose row never
        # committed) is not part of the record and is left out
        store = LocalCAS(Path(settings.QMC_BLOB_DIR))
        for cid in _referenced_cids():
            try:
                source = store.path_for(cid)
            except ValueError:
                raise BackupError(f"the database references {cid!r}, which is not a CID") from None
            try:
                data = source.read_bytes()
            except FileNotFoundError:
                raise BackupError(
                    f"blob {cid} is referenced by the database but missing from the store"
                ) from None
            if cid_for(data) != cid:
                raise BackupError(f"blob {cid} in the store is corrupted: its content has another hash")
            out = directory / "blobs" / source.parent.name / cid
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            blobs += 1

    var_dir = Path(settings.VAR_DIR)
    for secret in sorted(var_dir.glob("*.secret")):
        if secret.name in MASTER_KEY_FILES or not _SECRET_NAME.match(secret.name):
            continue  # never the master key
        out = directory / "keys" / secret.name
        out.parent.mkdir(exist_ok=True)
        out.write_bytes(secret.read_bytes())
        os.chmod(out, 0o600)

    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        files[rel] = {"sha256": _sha256_file(path), "size": path.stat().st_size}
    manifest = {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "engine": engine,
        "database": database,
        "blob_store": "ipfs" if settings.IPFS_API_URL else "localcas",
        "blobs": blobs,
        "master_key_id": master_key_id(),
        "files": files,
    }
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(directory / MANIFEST)
    return Summary(directory=directory, files=len(files), blobs=blobs, database=engine)


def verify(directory: Path) -> dict:
    """The backup's manifest, after checking every file it lists (and that it lists every
    file); BackupError on the first difference."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{directory} has no {MANIFEST}: not a backup, or an unfinished one") from None
    except ValueError as exc:
        raise BackupError(f"{MANIFEST} is not valid JSON: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r} (expected {FORMAT})")
    listed = manifest.get("files") or {}
    present = {
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }
    if extra := sorted(present - set(listed)):
        raise BackupError(f"files not in the manifest: {', '.join(extra[:5])}")
    for rel, meta in sorted(listed.items()):
        path = directory / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute() or not path.is_file():
            raise BackupError(f"{rel} is listed in the manifest but missing from the backup")
        if _sha256_file(path) != meta.get("sha256"):
            raise BackupError(f"{rel} does not match its SHA-256 in the manifest (damaged or altered)")
    if manifest.get("database") not in listed:
        raise BackupError("the manifest names no database file")
    return manifest


def _database_tables() -> list[str]:
    with connection.cursor() as cursor:
        return connection.introspection.table_names(cursor)


def restore(directory: Path) -> Summary:
    """Restore the backup in `directory` into this (empty) installation: the database, the
    blobs, the key files. The manifest is verified first; nothing is written before."""
    directory = Path(directory)
    manifest = verify(directory)
    engine = _engine()
    if manifest["engine"] != engine:
        raise BackupError(
            f"the backup is of a {manifest['engine']} database; this installation uses {engine}"
        )
    if manifest["master_key_id"] != master_key_id():
        raise BackupError(
            "this installation's master key is not the one the backup was made under: "
            "set QMC_MASTER_KEY (or its file) to the original master key first"
        )
    tables = _database_tables()
    if tables:
        raise BackupError(
            f"the database is not empty ({len(tables)} tables): restore needs an empty database "
            "(create a new one, and do not run migrate before restoring)"
        )
    blob_root = Path(settings.QMC_BLOB_DIR)
    if manifest["blob_store"] == "localcas" and blob_root.is_dir():
        if any(p.is_file() for p in blob_root.rglob("*")):
            raise BackupError(f"the blob directory {blob_root} is not empty: restore needs an empty one")
    var_dir = Path(settings.VAR_DIR)
    for rel in manifest["files"]:
        if rel.startswith("keys/"):
            name = rel.split("/", 1)[1]
            if not _SECRET_NAME.match(name) or name in MASTER_KEY_FILES:
                raise BackupError(f"unexpected key file {name} in the backup")

    if engine == "postgresql":
        tool = _pg_tool("pg_restore")
        args, env = _pg_env()
        connection.close()
        done = subprocess.run(  # nosec B603
            [
                tool,
                *args,
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                "--dbname",
                str(settings.DATABASES["default"]["NAME"]),
                str(directory / manifest["database"]),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise BackupError(f"pg_restore failed: {done.stderr.strip()[-500:]}")
    else:
        source = sqlite3.connect(f"file:{directory / manifest['database']}?mode=ro", uri=True)
        connection.close()
        target = sqlite3.connect(str(settings.DATABASES["default"]["NAME"]))
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()

    blobs = 0
    if manifest["blob_store"] == "localcas":
        store = LocalCAS(blob_root)
        for rel in sorted(manifest["files"]):
            if rel.startswith("blobs/"):
                data = (directory / rel).read_bytes()
                if store.put(data) != rel.rsplit("/", 1)[1]:
                    raise BackupError(f"blob {rel} does not hash to its CID")
                blobs += 1
    for rel in manifest["files"]:
        if rel.startswith("keys/"):
            # replaces a file this installation generated on its first start (SECRET_KEY's)
            out = var_dir / rel.split("/", 1)[1]
            var_dir.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write((directory / rel).read_bytes())
            tmp.replace(out)
    return Summary(directory=directory, files=len(manifest["files"]), blobs=blobs, database=engine)
