from django.shortcuts import render

from ledger import note
from ledger.selectors import latest_checkpoint, root_at, tree_size, verifiers


def status(request):
    """Latest checkpoint and a quick check of it (signatures by published keys, root equal to
    the stored tree). Full re-verification is `manage.py ledger verify`."""
    from ledger.services import origin

    cp = latest_checkpoint()
    ctx = {"origin": origin(), "size": tree_size(), "checkpoint": cp, "ok": None, "problem": ""}
    if cp is not None:
        try:
            text, signed_by = note.open_note(cp.note, verifiers(), require={note.ALG_FALCON, note.ALG_MLDSA})
            body = note.parse_checkpoint(text)
            if body.root != root_at(body.size):
                raise note.NoteError("signed root differs from the stored tree")
            ctx.update(ok=True, signed_by=signed_by)
        except Exception as exc:  # noqa: BLE001 - shown to the reader
            ctx.update(ok=False, problem=str(exc))
    return render(request, "ledger/status.html", ctx)
