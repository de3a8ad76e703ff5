from django.db import models


class StoredEmail(models.Model):
    """An email the embedded default kept instead of sending (DEBUG only; shown with DEV_MAILBOX)."""

    created_at = models.DateTimeField(auto_now_add=True)
    subject = models.CharField(max_length=500)
    from_email = models.CharField(max_length=300)
    to = models.TextField()
    body = models.TextField()
    html_body = models.TextField(blank=True)
    attachment_names = models.JSONField(default=list)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.subject} → {self.to}"
