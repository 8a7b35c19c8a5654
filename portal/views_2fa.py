"""TOTP second factor: enrol (with QR code) and verify at login."""

import base64
import io

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.redirects import safe_next


class TokenForm(forms.Form):
    token = forms.CharField(
        label="6-digit code from your authenticator app",
        min_length=6,
        max_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buf = io.BytesIO()
    image.save(buf)
    return buf.getvalue().decode()


@login_required
def setup(request):
    if TOTPDevice.objects.filter(user=request.user, confirmed=True).exists():
        return redirect("2fa-verify" if not request.user.is_verified() else "home")
    device, _ = TOTPDevice.objects.get_or_create(
        user=request.user, confirmed=False, defaults={"name": "authenticator"}
    )
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            request.session.cycle_key()
            messages.success(request, "Two-factor authentication is on.")
            return redirect("home")
        form.add_error("token", "That code is not valid. Check your device's clock and try the current code.")
    secret_b32 = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "registration/2fa_setup.html",
        {"form": form, "qr_svg": _qr_svg(device.config_url), "secret": secret_b32},
    )


@login_required
def verify(request):
    device = TOTPDevice.objects.filter(user=request.user, confirmed=True).first()
    if device is None:
        return redirect("2fa-setup")
    if request.user.is_verified():
        return redirect("home")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _ = device.verify_is_allowed()
        if allowed and device.verify_token(form.cleaned_data["token"]):
            otp_login(request, device)
            request.session.cycle_key()
            return redirect(safe_next(request, "home"))
        if not allowed:
            form.add_error("token", "Too many wrong codes. Wait a minute, then try again.")
        else:
            form.add_error("token", "That code is not valid. Try the current code from your app.")
    return render(request, "registration/2fa_verify.html", {"form": form})
