"""Recovery codes for staff who lost their second factor, kept only as salted hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import models, transaction
from django_otp.models import Device, ThrottlingMixin

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)


def _normalise(code: str) -> str:
    return "".join(code.lower().split()).replace("-", "")


class RecoveryCodeDevice(ThrottlingMixin, Device):
    """A django-otp device whose tokens are single-use recovery codes."""

    salt = models.CharField(max_length=32, default="", editable=False)

    class Meta:
        verbose_name = "recovery codes"
        verbose_name_plural = "recovery codes"

    def get_throttle_factor(self) -> int:
        return 1

    def _digest(self, code: str) -> str:
        return hashlib.sha256(f"{self.salt}:{_normalise(code)}".encode()).hexdigest()

    def regenerate(self) -> list[str]:
        """Replace every code with fresh ones; the plain codes are returned once, never stored."""
        codes = [
            "-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(2))
            for _ in range(RECOVERY_CODES)
        ]
        with transaction.atomic():
            self.salt = secrets.token_hex(16)
            self.save()
            self.codes.all().delete()
            RecoveryCode.objects.bulk_create(
                RecoveryCode(device=self, digest=self._digest(code)) for code in codes
            )
        return codes

    def remaining(self) -> int:
        """How many codes are left."""
        return self.codes.count()

    def verify_token(self, token: str) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        digest = self._digest(str(token))
        match = next(
            (row for row in self.codes.all() if hmac.compare_digest(row.digest, digest)), None
        )
        # Deleting (rather than reading) decides who used a code when two requests race.
        if match is None or not RecoveryCode.objects.filter(pk=match.pk).delete()[0]:
            self.throttle_increment()
            return False
        self.throttle_reset()
        return True


class RecoveryCode(models.Model):
    """One unused recovery code's hash."""

    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"recovery code of {self.device.user}"
