from django.conf import settings
from django.db import models


class ApprovalDigest(models.Model):
    """One daily digest of pending approvals sent to one member of staff. The unique
    day makes the digest task safe to run twice: the second run sends nothing."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    pending = models.PositiveIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-day",)
        constraints = [
            models.UniqueConstraint(fields=["recipient", "day"], name="approval_digest_once_a_day")
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.pending} pending approvals for {self.recipient}"
