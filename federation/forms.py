"""The administrator's add-peer form: what the other hospital's administrator sent (origin,
keys, URL, role), then a confirmation that the fingerprints were compared out of band."""

from __future__ import annotations

import hashlib

from django import forms
from django.core.validators import URLValidator

from federation.models import Peer

MAX_VKEYS_CHARS = 32 * 2048  # 32 keys (peers.MAX_KEYS), an ML-DSA-44 vkey is about 1.8 kB


class PeerForm(forms.Form):
    origin = forms.CharField(
        max_length=255,
        help_text="The log origin of the other hospital's ledger, e.g. <code>hospital-b.example/ledger</code>.",
    )
    vkeys = forms.CharField(
        label="Keys",
        max_length=MAX_VKEYS_CHARS,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "autocomplete": "off"}),
        help_text="Its verifier keys (vkeys), one per line, as <code>manage.py federation show-keys</code> "
        "prints them on that node: log keys and witness keys.",
    )
    url = forms.URLField(
        label="Base URL",
        required=False,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where its portal answers, e.g. <code>https://hospital-b.example</code>. "
        "Leave empty if this node cannot reach it.",
    )
    role = forms.ChoiceField(choices=Peer.ROLES, initial=Peer.ROLE_BOTH)
    name = forms.CharField(max_length=200, required=False, help_text="A display name (optional).")

    def vkey_lines(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["vkeys"].splitlines() if line.strip()]

    def digest(self) -> str:
        """Binds the confirmation to exactly the peer that was shown (a changed field between
        the two steps makes the administrator look again)."""
        d = self.cleaned_data
        parts = [
            d["origin"].strip(),
            d["url"].strip(),
            d["role"],
            d["name"].strip(),
            *sorted(self.vkey_lines()),
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class ConfirmForm(forms.Form):
    digest = forms.CharField(max_length=64, widget=forms.HiddenInput)
    confirm = forms.BooleanField(
        label="I compared every fingerprint above with the other hospital's administrator over a "
        "separate channel (phone or in person), and they match.",
    )


class CardForm(forms.Form):
    url = forms.URLField(
        label="Base URL", assume_scheme="https", validators=[URLValidator(schemes=["http", "https"])]
    )
