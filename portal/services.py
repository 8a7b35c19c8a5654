"""Writes on people: users, organisations, second-factor devices."""

import base64
import hashlib

from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.models import User


def demo_totp_device(user: User) -> str:
    """Give a demo user a confirmed TOTP device with a key derived from SECRET_KEY; return it (base32)."""
    key = hashlib.sha256(f"demo-totp:{user.username}:{settings.SECRET_KEY}".encode()).digest()[:20]
    device, _ = TOTPDevice.objects.update_or_create(
        user=user, name="demo", defaults={"key": key.hex(), "confirmed": True}
    )
    return base64.b32encode(key).decode()
