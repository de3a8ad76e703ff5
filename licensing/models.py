from django.db import models
from django.db.models.functions import Lower


class OrgUser(models.Model):
    """A person in the customer's connected org who may hold licences."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        LOCKED = "locked", "Locked"
        INACTIVE = "inactive", "Inactive"
        ROOM = "room", "Room"
        RESOURCE = "resource", "Resource"
        ASSET = "asset", "Asset"
        QUEUE = "queue", "Queue"

    # Only these statuses hold a licence (OpenCRM: "'Active' means Active OR Locked").
    LICENSED_STATUSES = frozenset({Status.ACTIVE, Status.LOCKED})

    organization = models.ForeignKey(
        "subscriptions.Organization", on_delete=models.CASCADE, related_name="org_users"
    )
    name = models.CharField(max_length=200)
    email = models.EmailField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name", "id")
        constraints = [
            models.UniqueConstraint("organization", Lower("email"), name="orguser_email_unique_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    def save(self, *args, **kwargs):
        # Emails are compared case-insensitively everywhere; store them folded.
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    @property
    def can_hold_licence(self) -> bool:
        return self.status in self.LICENSED_STATUSES


class LicenceAssignment(models.Model):
    """One licence of a subscription held by one org user."""

    organization = models.ForeignKey("subscriptions.Organization", on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.CASCADE, related_name="licence_assignments"
    )
    org_user = models.ForeignKey(OrgUser, on_delete=models.CASCADE, related_name="licences")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "org_user"], name="licence_once_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.org_user} → {self.subscription}"
