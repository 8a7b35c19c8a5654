"""Public, read-only REST API of the ledger (/api/v1/ledger/...). No authentication: the log
is public by design. Entries about patients (format v2) hold salted commitments only; their
openings are never served here (receipts with openings: portal/api/receipts.py).

Errors are JSON ``{"detail": "..."}`` with 400 for bad parameters and 404 for unknown items.
"""

from __future__ import annotations

import base64
import hashlib

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.openapi import problems
from ledger import merkle
from ledger.models import Entry
from ledger.selectors import (
    batch_proof,
    consistency_proof,
    entry_json,
    inclusion_proof,
    latest_checkpoint,
    public_keys,
    receipt_for_event,
    root_at,
    tree_size,
)

MAX_PAGE = 1000


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


def _int(value, name: str, *, default=None) -> int:
    if value is None or value == "":
        if default is None:
            raise ParseError(f"{name} is required")
        return default
    s = str(value)
    if not s.isascii() or not s.isdigit():
        raise ParseError(f"{name} must be a non-negative integer, got {s[:40]!r}")
    if len(s) > 18:
        raise ParseError(f"{name} is out of range")
    return int(s)


class PublicAPIView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


_ERR = problems(400, 404)


class CheckpointView(PublicAPIView):
    """Latest checkpoint as a C2SP signed note (text/plain)."""

    @extend_schema(
        responses={(200, "text/plain"): OpenApiTypes.STR, **_ERR},
        tags=["ledger"],
        auth=[],
        summary="Latest signed checkpoint (C2SP signed note)",
    )
    def get(self, request):
        cp = latest_checkpoint()
        if cp is None:
            raise NotFound("no checkpoint has been signed yet")
        resp = HttpResponse(cp.note, content_type="text/plain; charset=utf-8")
        resp["ETag"] = f'"cp-{cp.tree_size}-{hashlib.sha256(cp.note.encode()).hexdigest()[:16]}"'
        resp["Cache-Control"] = "no-cache"
        return resp


class EntriesView(PublicAPIView):
    """Entries [start, end) (end exclusive, at most 1000 per request)."""

    @extend_schema(
        operation_id="ledger_entries_list",
        tags=["ledger"],
        auth=[],
        summary="Entries [start, end)",
        parameters=[
            OpenApiParameter("start", int, description="first index (default 0)"),
            OpenApiParameter("end", int, description="one past the last index (default start+100)"),
        ],
        responses={
            200: inline_serializer(
                "LedgerEntries",
                {
                    "tree_size": serializers.IntegerField(),
                    "start": serializers.IntegerField(),
                    "end": serializers.IntegerField(),
                    "entries": serializers.ListField(child=serializers.JSONField()),
                },
            ),
            **_ERR,
        },
    )
    def get(self, request):
        size = tree_size()
        start = _int(request.query_params.get("start"), "start", default=0)
        end = _int(request.query_params.get("end"), "end", default=min(size, start + 100))
        if start > end:
            raise ParseError(f"start ({start}) must not be greater than end ({end})")
        if end > size:
            raise ParseError(f"end ({end}) is beyond the tree size ({size})")
        if end - start > MAX_PAGE:
            raise ParseError(f"at most {MAX_PAGE} entries per request")
        rows = Entry.objects.filter(index__gte=start, index__lt=end).order_by("index")
        return Response(
            {"tree_size": size, "start": start, "end": end, "entries": [entry_json(e) for e in rows]}
        )


class EntryView(PublicAPIView):
    """One entry, with its inclusion proof to the latest checkpoint covering it."""

    @extend_schema(
        operation_id="ledger_entry_retrieve",
        tags=["ledger"],
        auth=[],
        summary="One entry with inclusion proof",
        parameters=[OpenApiParameter("index", int, OpenApiParameter.PATH)],
        responses={
            200: inline_serializer(
                "LedgerEntryWithProof",
                {
                    "entry": serializers.JSONField(),
                    "checkpoint": serializers.CharField(allow_null=True),
                    "tree_size": serializers.IntegerField(allow_null=True),
                    "inclusion_proof": serializers.ListField(child=serializers.CharField(), allow_null=True),
                    # batch form: the signed batch covering the entry and its proof against
                    # the batch root; null for an entry signed on its own
                    "batch": serializers.JSONField(allow_null=True),
                },
            ),
            304: OpenApiResponse(description="not modified (ETag)"),
            **_ERR,
        },
    )
    def get(self, request, index: str):
        i = _int(index, "index")
        size = tree_size()
        if i >= size:
            raise ParseError(f"index {i} is out of range (tree size {size})")
        e = Entry.objects.filter(index=i).first()
        if e is None:
            raise NotFound(f"entry {i} not found")
        cp = latest_checkpoint()
        body = {
            "entry": entry_json(e),
            "checkpoint": None,
            "tree_size": None,
            "inclusion_proof": None,
            "batch": batch_proof(e),
        }
        if cp is not None and cp.tree_size > i:
            body.update(
                checkpoint=cp.note,
                tree_size=cp.tree_size,
                inclusion_proof=[_b64(h) for h in inclusion_proof(i, cp.tree_size)],
            )
        etag = f'"e{i}-{bytes(e.leaf_hash).hex()[:16]}-{cp.tree_size if cp else 0}"'
        if request.headers.get("If-None-Match") == etag:
            return HttpResponse(status=304, headers={"ETag": etag})
        resp = Response(body)
        resp["ETag"] = etag
        return resp


class ConsistencyView(PublicAPIView):
    @extend_schema(
        tags=["ledger"],
        auth=[],
        summary="Consistency proof between two tree sizes",
        parameters=[
            OpenApiParameter("first", int, required=True),
            OpenApiParameter("second", int, required=True),
        ],
        responses={
            200: inline_serializer(
                "ConsistencyProof",
                {
                    "first": serializers.IntegerField(),
                    "second": serializers.IntegerField(),
                    "first_root": serializers.CharField(),
                    "second_root": serializers.CharField(),
                    "proof": serializers.ListField(child=serializers.CharField()),
                },
            ),
            **_ERR,
        },
    )
    def get(self, request):
        first = _int(request.query_params.get("first"), "first")
        second = _int(request.query_params.get("second"), "second")
        size = tree_size()
        if first > second:
            raise ParseError(f"first ({first}) must not be greater than second ({second})")
        if second > size:
            raise ParseError(f"second ({second}) is beyond the tree size ({size})")
        try:
            proof = consistency_proof(first, second)
        except merkle.ProofError as exc:
            raise ParseError(str(exc)) from None
        return Response(
            {
                "first": first,
                "second": second,
                "first_root": _b64(root_at(first)),
                "second_root": _b64(root_at(second)),
                "proof": [_b64(h) for h in proof],
            }
        )


class KeysView(PublicAPIView):
    @extend_schema(
        tags=["ledger"],
        auth=[],
        summary="Published verification keys",
        responses={
            200: inline_serializer(
                "LedgerKeys",
                {
                    "origin": serializers.CharField(),
                    "keys": serializers.ListField(child=serializers.JSONField()),
                },
            )
        },
    )
    def get(self, request):
        from ledger.services import origin

        return Response({"origin": origin(), "keys": public_keys()})


class ReceiptView(PublicAPIView):
    @extend_schema(
        tags=["ledger"],
        auth=[],
        summary="Self-contained receipt of an event (entry, checkpoint, proof)",
        parameters=[OpenApiParameter("event_id", str, OpenApiParameter.PATH)],
        responses={200: OpenApiTypes.OBJECT, **_ERR},
    )
    def get(self, request, event_id: str):
        receipt = receipt_for_event(event_id)
        if receipt is None:
            raise NotFound("no receipt yet: unknown event, or not yet covered by a checkpoint")
        resp = Response(receipt)
        resp["Content-Disposition"] = f'inline; filename="receipt-{event_id}.json"'
        return resp
