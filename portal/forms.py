from datetime import timedelta

from django import forms
from django.utils import timezone

from portal.models import Action, Organisation, Purpose, Role, ScopeKind, User


def _remote_clinicians():
    """Clinicians of trusted peer nodes, as synced from their signed directories (shadow users
    with the public key the peer published), "Dr X at hospital B" first by hospital."""
    return (
        User.objects.filter(
            role=Role.REMOTE_CLINICIAN,
            is_active=True,
            keypair__isnull=False,
            remote_clinician__active=True,
            remote_clinician__peer__trusted=True,
        )
        .select_related("remote_clinician__peer")
        .order_by("remote_clinician__organisation", "remote_clinician__display_name")
    )


class GrantForm(forms.Form):
    grantee = forms.ChoiceField(
        label="Who may access",
        help_text="A clinician (of this hospital or of another), a whole organisation, or an API client.",
    )
    actions = forms.MultipleChoiceField(
        label="What they may do",
        choices=Action.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=["view"],
    )
    purposes = forms.MultipleChoiceField(
        label="For what purpose",
        choices=Purpose.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=["TREAT"],
    )
    scope_kind = forms.ChoiceField(
        label="Which scans", choices=ScopeKind.choices, initial=ScopeKind.ALL, widget=forms.RadioSelect
    )
    scope_scan_ids = forms.MultipleChoiceField(
        label="Scans to share (if you pick)", required=False, widget=forms.CheckboxSelectMultiple
    )
    scope_modality = forms.CharField(
        label="Modality (for a filter), e.g. CT, MR, CR", required=False, max_length=16
    )
    scope_from = forms.DateField(
        label="Study date from (for a filter)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    scope_to = forms.DateField(
        label="Study date up to (for a filter)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    days = forms.IntegerField(
        label="For how many days (empty: until you revoke)",
        required=False,
        min_value=1,
        max_value=3650,
        initial=30,
    )

    def __init__(self, *args, patient: User, **kwargs):
        super().__init__(*args, **kwargs)
        people = User.objects.filter(role__in=[Role.CLINICIAN, Role.API_CLIENT], is_active=True).order_by(
            "last_name"
        )
        choices = [(f"user:{u.pk}", f"{u.display_name()} ({u.get_role_display()})") for u in people]
        choices += [
            (f"org:{o.pk}", f"{o.name} (all its clinicians)") for o in Organisation.objects.order_by("name")
        ]
        remote = [(f"user:{u.pk}", u.display_name()) for u in _remote_clinicians()]
        if remote:
            choices.append(("Clinicians at other hospitals (from their signed directories)", remote))
        self.fields["grantee"].choices = [("", "Choose…")] + choices
        from imaging import consent_port

        self.fields["scope_scan_ids"].choices = consent_port.scan_choices(patient)

    def grantee_kwargs(self) -> dict:
        kind, _, pk = self.cleaned_data["grantee"].partition(":")
        if kind == "user":
            return {"grantee_user": User.objects.get(pk=pk)}
        return {"grantee_org": Organisation.objects.get(pk=pk)}

    def end(self):
        days = self.cleaned_data.get("days")
        return timezone.now() + timedelta(days=days) if days else None


class BreakGlassForm(forms.Form):
    reason = forms.CharField(
        label="Emergency reason",
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=10,
        max_length=2000,
        help_text="Recorded and reviewed by an auditor; the patient is told that you used emergency access.",
    )


class ReviewForm(forms.Form):
    note = forms.CharField(
        label="Review note", widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000
    )
