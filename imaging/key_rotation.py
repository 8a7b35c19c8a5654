"""Master-key rotation: re-seal every secret sealed under the master key (core.keyvault).

What is sealed under the master key: users' (and the system's) hybrid private keys, the
ledger's signing keys, this node's witness and node keys, and lab figures made from a scan.
Each sealed blob names the key that sealed it (`crypto.sealing.sealed_key_id`), and readers
try the current key then the previous one (`keyvault.sealing_keys`), so the portal keeps
working while the rows are re-sealed one by one. Each row is updated with a compare-and-set
on its old blob: a row re-sealed meanwhile by someone else is left alone.

Sequence (README "Master-key rotation"): every process restarted with QMC_MASTER_KEY=new,
QMC_MASTER_KEY_PREVIOUS=old and QMC_KEY_DERIVATION_ROOT=<the original master key>; run
`rotate_master_key`; run it again after every process has restarted (it re-seals what a
process still holding only the old key sealed meanwhile): when it reports nothing left under
the previous key, remove QMC_MASTER_KEY_PREVIOUS. `--new` does the configuration part itself
in the embedded default (key files under var/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.apps import apps

from core import keyvault
from crypto.sealing import key_id, sealed_key_id


@dataclass(frozen=True)
class SealedColumn:
    app: str
    model: str
    field: str
    context: Callable[[object], str]
    only: dict


COLUMNS = (
    SealedColumn(
        "portal", "UserKeyPair", "sealed_private_key", lambda r: f"portal.keypair:{r.fingerprint}", {}
    ),
    SealedColumn(
        "ledger", "SigningKey", "sealed_private_key", lambda r: f"ledger.{r.algorithm}:{r.key_id}", {}
    ),
    SealedColumn(
        "federation",
        "WitnessKey",
        "sealed_private_key",
        lambda r: f"federation.{r.algorithm}:{r.key_id}",
        {},
    ),
    SealedColumn(
        "federation", "NodeKey", "sealed_private_key", lambda r: f"federation.node-key:{r.key_id}", {}
    ),
    SealedColumn("lab", "LabRun", "figure_png", lambda r: f"lab.figure:{r.pk}", {"params__source": "scan"}),
)


def _rows(column: SealedColumn) -> Iterator[tuple[object, bytes]]:
    model = apps.get_model(column.app, column.model)
    for row in (
        model.objects.filter(**column.only)
        .exclude(**{column.field: b""})
        .exclude(**{f"{column.field}__isnull": True})
        .iterator(chunk_size=200)
    ):
        yield row, bytes(getattr(row, column.field))


@dataclass
class Report:
    resealed: int = 0
    current: int = 0
    changed_meanwhile: int = 0
    unreadable: int = 0

    @property
    def left(self) -> int:
        return self.unreadable + self.changed_meanwhile


def rotate(*, limit: int | None = None) -> Report:
    """Re-seal under the current master key every sealed blob that is not already under it
    (at most `limit` rows: the tests rotate step by step)."""
    current = key_id(keyvault.sealing_key())
    report = Report()
    for column in COLUMNS:
        model = apps.get_model(column.app, column.model)
        for row, blob in _rows(column):
            if sealed_key_id(blob) == current:
                report.current += 1
                continue
            if limit is not None and report.resealed >= limit:
                report.changed_meanwhile += 1  # not reached this run
                continue
            context = column.context(row)
            try:
                plaintext = keyvault.unseal(blob, context=context)
            except ValueError:
                report.unreadable += 1
                continue
            fresh = keyvault.seal(plaintext, context=context)
            updated = model.objects.filter(pk=row.pk, **{column.field: blob}).update(**{column.field: fresh})
            if updated:
                report.resealed += 1
            else:
                report.changed_meanwhile += 1
    return report


def remaining_under_other_keys() -> int:
    """Sealed blobs not (yet) under the current master key."""
    current = key_id(keyvault.sealing_key())
    return sum(1 for column in COLUMNS for _, blob in _rows(column) if sealed_key_id(blob) != current)
