"""Administration of DIMSE: the DICOM peers of each organisation (who may associate), the
links from an organisation's DICOM Patient IDs to patients (shown by their hash only: the IDs
are not stored), and the reconciliation queue (read-only: clinicians attach at
/scans/reconcile/)."""

from django.contrib import admin

from imaging.models import DicomPatientLink, DicomPeer, PendingInstance


@admin.register(DicomPeer)
class DicomPeerAdmin(admin.ModelAdmin):
    list_display = ("ae_title", "organisation", "host", "is_active", "created_at")
    list_filter = ("is_active", "organisation")
    search_fields = ("ae_title",)
    fields = ("organisation", "ae_title", "host", "is_active")


@admin.register(DicomPatientLink)
class DicomPatientLinkAdmin(admin.ModelAdmin):
    """Links are made by a clinician's attach; an administrator may delete a wrong one."""

    list_display = ("organisation", "patient", "created_by", "created_at")
    list_filter = ("organisation",)
    fields = readonly_fields = ("organisation", "patient_key", "patient", "created_by", "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PendingInstance)
class PendingInstanceAdmin(admin.ModelAdmin):
    list_display = ("id", "organisation", "peer", "modality", "size", "received_at")
    list_filter = ("organisation",)
    fields = readonly_fields = ("id", "organisation", "peer", "modality", "size", "received_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
