"""One form per tool. Field types and ranges here are for the browser; the service re-checks
everything (lab.tools.clean_params) so the API and the pages refuse the same things."""

from __future__ import annotations

from django import forms

from lab.tools import LIMITS, NEQR_TEST_SIZES


def _seed():
    return forms.IntegerField(
        label="Seed (optional)",
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        help_text="Same seed, same numbers. Left empty, a random seed is chosen and shown on the run page.",
    )


def _source_fields(form, scans):
    form.fields["source"] = forms.ChoiceField(
        label="Input image",
        choices=[("test", "Generated test image")] + ([("scan", "One of my scans")] if scans else []),
        initial="test",
        help_text=(
            "A scan is read through the normal access path: the policy must allow you to view it for "
            "research (HRESCH) and the access is recorded in the patient's history and the ledger."
            if scans
            else "You have no processed scans you may use for research, so only the generated test image is offered."
        ),
    )
    if scans:
        form.fields["scan_id"] = forms.ChoiceField(
            label="Scan",
            required=False,
            choices=[("", "—")]
            + [
                (
                    str(s.id),
                    f"{s.patient.display_name()} · {s.created_at:%Y-%m-%d %H:%M} · {s.modality or s.source_format}",
                )
                for s in scans
            ],
        )


class BB84Form(forms.Form):
    qubits = forms.IntegerField(
        label="Qubits sent", min_value=16, max_value=LIMITS["bb84_qubits"], initial=4000
    )
    eve = forms.FloatField(
        label="Eavesdropper fraction f",
        min_value=0,
        max_value=1,
        initial=0.0,
        help_text="Intercept-resend on a random fraction of qubits. Expected QBER ≈ 0.25·f.",
    )
    noise = forms.FloatField(
        label="Depolarising channel noise p",
        min_value=0,
        max_value=1,
        initial=0.0,
        help_text="Expected QBER ≈ p/2.",
    )
    seed = _seed()


class NeqrForm(forms.Form):
    def __init__(self, *args, scans=(), **kwargs):
        super().__init__(*args, **kwargs)
        _source_fields(self, scans)
        self.fields["size"] = forms.TypedChoiceField(
            label="Test image size",
            coerce=int,
            choices=[
                (s, f"{s} × {s}" + (" (real circuit on qiskit-aer)" if s <= 32 else ""))
                for s in NEQR_TEST_SIZES
            ],
            initial=128,
            required=False,
            help_text="Used for the generated image. Scans are 128 × 128 (the classical path, proven identical to the circuit).",
        )
        self.fields["seed"] = _seed()


class QhashForm(forms.Form):
    samples = forms.IntegerField(
        label="Message pairs (one bit flipped)", min_value=1, max_value=LIMITS["qhash_samples"], initial=500
    )
    message_bytes = forms.IntegerField(
        label="Message length (bytes)", min_value=1, max_value=LIMITS["qhash_message_bytes"], initial=128
    )
    seed = _seed()


class BellAuthForm(forms.Form):
    pairs = forms.IntegerField(
        label="Bell pairs shared", min_value=1, max_value=LIMITS["bell_pairs"], initial=1000
    )
    checked = forms.IntegerField(
        label="Checked pairs K", min_value=1, max_value=LIMITS["bell_checked"], initial=8
    )
    attack = forms.ChoiceField(
        label="Attack",
        choices=[("none", "None"), ("intercept", "Intercept-resend"), ("entangle", "Entangle-measure")],
        initial="intercept",
    )
    noise = forms.FloatField(label="Depolarising noise", min_value=0, max_value=1, initial=0.0)
    trials = forms.IntegerField(
        label="Trials (for the detection rate)", min_value=1, max_value=LIMITS["bell_trials"], initial=500
    )
    seed = _seed()


class GhostForm(forms.Form):
    def __init__(self, *args, scans=(), **kwargs):
        super().__init__(*args, **kwargs)
        _source_fields(self, scans)
        self.fields["ratio"] = forms.FloatField(
            label="Sampling ratio M/N",
            min_value=0.001,
            max_value=1,
            initial=0.25,
            help_text="Fraction of 64 × 64 = 4096 pixels measured with the bucket detector, in (0, 1].",
        )
        self.fields["method"] = forms.ChoiceField(
            label="Reconstruction shown",
            choices=[
                ("cs", "Compressive sensing (TV)"),
                ("dgi", "Differential GI"),
                ("gi", "Correlation GI"),
            ],
            initial="cs",
            help_text="All three are computed and compared; this one is drawn.",
        )
        self.fields["patterns"] = forms.ChoiceField(
            label="Patterns",
            choices=[("random", "Random binary"), ("hadamard", "Hadamard")],
            initial="random",
        )
        self.fields["detector_noise"] = forms.FloatField(
            label="Detector noise (std / signal std)", min_value=0, max_value=1, initial=0.0
        )
        self.fields["sweep"] = forms.BooleanField(
            label="Sweep sampling ratio 5 %–100 % for all three methods (about 15 s)", required=False
        )
        self.fields["seed"] = _seed()


FORMS = {"bb84": BB84Form, "neqr": NeqrForm, "qhash": QhashForm, "bellauth": BellAuthForm, "ghost": GhostForm}
IMAGE_TOOLS = ("neqr", "ghost")
