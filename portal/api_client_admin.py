"""The admin's page for OAuth2 applications (OAUTH2_PROVIDER["APPLICATION_ADMIN_CLASS"]): where an
administrator registers a third-party API client, grants it scopes and deactivates it.

Imported by oauth2_provider.admin while it registers its models, so it must not import
portal.admin."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from oauth2_provider.admin import ApplicationAdmin
from oauth2_provider.forms import ApplicationForm
from oauth2_provider.models import Application

from portal.api_client_services import api_client_deactivate, application_problems
from portal.models import ApiClientPolicy, Role, User


class ApiClientApplicationForm(ApplicationForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            self.initial.setdefault("client_type", Application.CLIENT_CONFIDENTIAL)
            self.initial.setdefault("authorization_grant_type", Application.GRANT_CLIENT_CREDENTIALS)

    def _post_clean(self):
        super()._post_clean()  # copies the cleaned fields onto self.instance
        for field, problem in application_problems(self.instance).items():
            if field not in self.errors:
                self.add_error(field if field in self.fields else None, problem)


class ApiClientPolicyForm(forms.ModelForm):
    allowed_scopes = forms.MultipleChoiceField(
        choices=lambda: list(settings.OAUTH2_PROVIDER["SCOPES"].items()),
        widget=forms.CheckboxSelectMultiple,
        help_text="The scopes this client may ask for; it is refused any other.",
    )

    class Meta:
        model = ApiClientPolicy
        fields = ("allowed_scopes", "is_active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["allowed_scopes"] = sorted(self.instance.scopes)

    def clean_allowed_scopes(self):
        return " ".join(sorted(self.cleaned_data["allowed_scopes"]))


class ApiClientPolicyInline(admin.StackedInline):
    model = ApiClientPolicy
    form = ApiClientPolicyForm
    min_num = max_num = 1
    can_delete = False
    verbose_name = verbose_name_plural = "What this client may do"


@admin.action(description="Deactivate the selected clients (no new token; their tokens deleted)")
def deactivate(modeladmin, request, queryset):
    for app in queryset:
        api_client_deactivate(application=app)
    modeladmin.message_user(request, f"{queryset.count()} client(s) deactivated.", messages.SUCCESS)


class ApiClientApplicationAdmin(ApplicationAdmin):
    form = ApiClientApplicationForm
    inlines = [ApiClientPolicyInline]
    actions = [deactivate]
    list_display = ("name", "client_id", "user", "policy_active")
    list_filter = ("policy__is_active",)
    raw_id_fields = ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = User.objects.filter(role=Role.API_CLIENT).order_by("username")
            kwargs["help_text"] = "The client's service account: a user of role 'Third-party API client'."
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(boolean=True, description="active")
    def policy_active(self, app) -> bool:
        policy = getattr(app, "policy", None)
        return bool(policy and policy.is_active)
