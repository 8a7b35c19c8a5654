"""Serializers that bind their fields once per class for output.

DRF deep-copies and binds every declared field of a serializer each time one is created and
its output read; for a read-only representation that is most of its cost (about 1 ms for the
scan detail's 28 fields, on every authorized read). `BoundOnce` binds them once, on a template
instance per class, and reuses those field objects for every representation. Their output is
DRF's own: `Field.get_attribute` and `Field.to_representation` of the same field types, which
hold no per-request state. Method fields are called on the serializer at hand, so they still
see its context.

Only for output of serializers whose other fields do not read the context (no hyperlinked or
related fields); validation is untouched and the OpenAPI schema still reads the declared fields.
"""

from __future__ import annotations

from typing import Any

from rest_framework.fields import Field, SerializerMethodField, SkipField

_PLAN = "_bound_once_plan"


class BoundOnce:
    """Mix in before `serializers.Serializer`."""

    @classmethod
    def _plan(cls) -> tuple[tuple[str, Field, str | None], ...]:
        plan = cls.__dict__.get(_PLAN)
        if plan is None:  # a race builds it twice, identically
            template = cls()
            plan = tuple(
                (f.field_name, f, f.method_name if isinstance(f, SerializerMethodField) else None)
                for f in template._readable_fields  # type: ignore[attr-defined]
            )
            setattr(cls, _PLAN, plan)
        return plan

    def to_representation(self, instance: Any) -> dict:
        out: dict = {}
        for name, field, method in self._plan():
            if method is not None:
                out[name] = getattr(self, method)(instance)
                continue
            try:
                value = field.get_attribute(instance)
            except SkipField:
                continue
            out[name] = None if value is None else field.to_representation(value)
        return out
