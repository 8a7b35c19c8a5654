from datetime import timedelta

from django import forms
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

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

        self.fields["scope_scan_ids"].choices = [
            (pk, _scan_pick_label(pk, label, thumb))
            for pk, label, thumb in consent_port.scan_choices(patient)
        ]

    def grantee_kwargs(self) -> dict:
        kind, _, pk = self.cleaned_data["grantee"].partition(":")
        if kind == "user":
            return {"grantee_user": User.objects.get(pk=pk)}
        return {"grantee_org": Organisation.objects.get(pk=pk)}

    def end(self):
        days = self.cleaned_data.get("days")
        return timezone.now() + timedelta(days=days) if days else None


def _scan_pick_label(pk: str, label: str, thumb: bool):
    """The picker's label: the scan's thumbnail (policy-checked URL, lazy) and its plain label."""
    if not thumb:
        return label
    return format_html(
        '<img class="thumb small" src="{}" alt="" loading="lazy" width="40" height="40"> {}',
        reverse("imaging:thumb", args=[pk]),
        label,
    )


class BreakGlassForm(forms.Form):
    reason = forms.CharField(
        label="Emergency reason",
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=10,
        max_length=2000,
        help_text="Recorded and reviewed by an auditor; the patient is told that you used emergency access.",
    )


class ReviewForm(forms.Form):
    outcome = forms.ChoiceField(
        label="Finding",
        choices=[("justified", "Justified: a real emergency"), ("unjustified", "Unjustified")],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose whether the emergency access was justified."},
    )
    note = forms.CharField(
        label="Review note", widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000
    )


class PatientSearchForm(forms.Form):
    """Emergency access starts from a search among the organisation's patients (posted, so
    that no name or date of birth appears in a URL or an access log)."""

    name = forms.CharField(label="Name", required=False, max_length=100)
    birth_date = forms.DateField(
        label="Date of birth", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    identifier = forms.CharField(
        label="Patient identifier", required=False, max_length=100, help_text="Username or patient number."
    )

    def clean(self):
        data = super().clean()
        if not (data.get("name", "").strip() or data.get("birth_date") or data.get("identifier", "").strip()):
            raise forms.ValidationError("Give a name, a date of birth or an identifier.")
        if (
            data.get("name")
            and len(data["name"].strip()) < 2
            and not (data.get("birth_date") or data.get("identifier"))
        ):
            raise forms.ValidationError("Give at least two letters of the name.")
        return data


class HistoryFilterForm(forms.Form):
    who = forms.ChoiceField(label="Who", required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="Up to", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    outcome = forms.ChoiceField(
        label="Decision",
        required=False,
        choices=[("", "Allowed or refused"), ("allowed", "Allowed"), ("refused", "Refused")],
    )

    def __init__(self, *args, actors: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["who"].choices = [("", "Anyone"), *actors]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise forms.ValidationError("The period ends before it starts.")
        return data


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Your time zone", help_text="Dates and times on your pages are shown in it."
    )

    def __init__(self, *args, **kwargs):
        from portal import timezones

        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = timezones.choices()
