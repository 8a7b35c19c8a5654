from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from portal.models import Organisation, User


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("Role", {"fields": ("role", "organisation")}),)
    list_display = ("username", "role", "organisation", "is_active")
    list_filter = ("role", "organisation")


admin.site.register(Organisation)
