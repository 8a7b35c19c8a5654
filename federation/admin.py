"""The hospital network in the Django admin, read-only: peers are added only on the add-peer
page (/network/peers/add/), after their fingerprints were compared; everything else is
written by the protocol. No private key is shown."""

from django.contrib import admin
from django.shortcuts import redirect

from federation.models import (
    Cosignature,
    Evidence,
    Peer,
    PeerKey,
    QuantumCheck,
    SeenCheckpoint,
    WitnessedCheckpoint,
    WitnessKey,
)
from portal.models import Role


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PeerKeyInline(admin.TabularInline):
    model = PeerKey
    fields = readonly_fields = ("purpose", "name", "key_id", "algorithm", "vkey", "created_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Peer)
class PeerAdmin(ReadOnlyAdmin):
    list_display = ("origin", "name", "role", "trusted", "url", "created_at")
    list_filter = ("role", "trusted")
    search_fields = ("origin", "name")
    fields = readonly_fields = ("origin", "name", "url", "role", "trusted", "untrusted_reason", "created_at")
    inlines = [PeerKeyInline]

    def has_add_permission(self, request, obj=None):
        return bool(request.user.is_active and getattr(request.user, "role", "") == Role.ADMIN)

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("federation:peer-add")  # with its fingerprint confirmation


@admin.register(WitnessKey)
class WitnessKeyAdmin(ReadOnlyAdmin):
    list_display = ("name", "algorithm", "key_id", "created_at", "retired_at")
    fields = readonly_fields = ("name", "algorithm", "key_id", "created_at", "retired_at")


@admin.register(Cosignature)
class CosignatureAdmin(ReadOnlyAdmin):
    list_display = ("checkpoint", "peer", "algorithm", "key_id", "timestamp", "received_at")
    list_filter = ("peer", "algorithm")
    list_select_related = ("checkpoint", "peer")


@admin.register(WitnessedCheckpoint)
class WitnessedCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("tree_size", "witnessed_at")


@admin.register(SeenCheckpoint)
class SeenCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("peer", "tree_size", "source", "via", "seen_at")
    list_filter = ("peer", "source")
    list_select_related = ("peer",)
    exclude = ("root_hash",)


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyAdmin):
    list_display = ("id", "peer", "kind", "detected_via", "detected_at", "ledger_event_id")
    list_filter = ("kind", "detected_via")
    list_select_related = ("peer",)


@admin.register(QuantumCheck)
class QuantumCheckAdmin(ReadOnlyAdmin):
    list_display = ("peer", "ran_at", "seed")
    list_select_related = ("peer",)
