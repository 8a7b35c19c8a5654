import django_otp.plugins.otp_totp.admin  # noqa: F401 (registers its admin first, replaced below)
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.models import Organisation, User


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("Role", {"fields": ("role", "organisation")}),)
    list_display = ("username", "role", "organisation", "is_active")
    list_filter = ("role", "organisation")


admin.site.register(Organisation)


if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)  # django-otp's shows the key, a QR code of it, and lets one set it


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(admin.ModelAdmin):
    """Second-factor devices without their keys. Users enrol their own device (/accounts/2fa/setup/),
    so no one else ever sees or chooses its key; an admin can see who has one and delete a lost
    one, after which its user enrols again."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__username",)
    fields = readonly_fields = (
        "user",
        "name",
        "confirmed",
        "created_at",
        "last_used_at",
        "throttling_failure_count",
        "throttling_failure_timestamp",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
