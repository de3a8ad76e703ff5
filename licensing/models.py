from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from .fields import EncryptedTextField


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
    # The subscriptions whose licences the user held when a status change (to Inactive,
    # Room…) last freed them, so making them Active or Locked again offers the same
    # licences. None: they never held licences that a status change took away.
    licences_held_before = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name", "id")
        constraints = [
            # Also the licence check's way in: with the id (and the email, which PostgreSQL
            # wants for an index-only scan of lower(email)) it finds the org user from the
            # index alone (selectors.is_licensed).
            models.UniqueConstraint(
                "organization", Lower("email"), include=["id", "email"], name="orguser_email_unique_per_org"
            )
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
    # Indexed with the subscription (below), not alone: the licence check reads a user's
    # licences from that index only.
    org_user = models.ForeignKey(OrgUser, on_delete=models.CASCADE, related_name="licences", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "org_user"], name="licence_once_per_user")
        ]
        indexes = [models.Index(fields=["org_user", "subscription"], name="licence_of_org_user")]

    def __str__(self) -> str:
        return f"{self.org_user} → {self.subscription}"


class ConnectedOrg(models.Model):
    """Where an organization's seat counts are pushed, and how."""

    class Kind(models.TextChoices):
        BUILT_IN = "built_in", "Built-in (seatmgr is the licence server)"
        WEBHOOK = "webhook", "Signed webhook"
        SALESFORCE = "salesforce", "Salesforce License Management App"

    organization = models.OneToOneField(
        "subscriptions.Organization", on_delete=models.CASCADE, related_name="connected_org"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.BUILT_IN)
    # Signed webhook (Standard Webhooks): the receiver's URL and the shared secret.
    webhook_url = models.URLField(blank=True)
    webhook_secret = EncryptedTextField(blank=True)
    # Salesforce LMA: the OAuth login endpoint, an integration user and connected app,
    # and which licence record to update (subscriber org id + package id).
    salesforce_login_url = models.URLField(blank=True, default="https://login.salesforce.com")
    salesforce_username = models.CharField(max_length=200, blank=True)
    salesforce_password = EncryptedTextField(blank=True)
    salesforce_client_id = models.CharField(max_length=300, blank=True)
    salesforce_client_secret = EncryptedTextField(blank=True)
    salesforce_subscriber_org_id = models.CharField(max_length=18, blank=True)
    salesforce_package_id = models.CharField(max_length=18, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "connected org"

    def __str__(self) -> str:
        return f"{self.organization}: {self.get_kind_display()}"


class SeatSyncAttempt(models.Model):
    """One try at pushing a SeatSync to the connected org."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    seat_sync = models.ForeignKey(
        "subscriptions.SeatSync", on_delete=models.CASCADE, related_name="attempts_log"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("-started_at", "-id")

    def __str__(self) -> str:
        return f"{self.seat_sync_id} {self.outcome} at {self.started_at:%H:%M:%S}"


class UserImport(models.Model):
    """A CSV of users uploaded for import: previewed first, applied once on confirmation."""

    organization = models.ForeignKey("subscriptions.Organization", on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    content = models.TextField()
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.filename} ({self.created_at:%Y-%m-%d %H:%M})"


class SetupWizard(models.Model):
    """A new organization's first-visit walkthrough: where its admin left off, and
    whether it is done (then it is never shown again)."""

    class Step(models.TextChoices):
        SUBSCRIPTIONS = "subscriptions", "Your subscriptions"
        USERS = "users", "Add your users"
        LICENCES = "licences", "Assign licences"
        LINKS = "links", "Your unique links"

    STEPS = [Step.SUBSCRIPTIONS, Step.USERS, Step.LICENCES, Step.LINKS]

    organization = models.OneToOneField(
        "subscriptions.Organization", on_delete=models.CASCADE, related_name="setup_wizard"
    )
    step = models.CharField(max_length=15, choices=Step.choices, default=Step.SUBSCRIPTIONS)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Setup of {self.organization}: {'done' if self.finished_at else self.step}"


class PendingLicence(models.Model):
    """A user waiting for a licence of a subscription that has none left, until the
    seat change buying it is applied (the licence is then given inside the applying
    transaction and this row deleted) or cancelled or expired (deleted, admin told)."""

    organization = models.ForeignKey("subscriptions.Organization", on_delete=models.CASCADE, related_name="+")
    org_user = models.ForeignKey(OrgUser, on_delete=models.CASCADE, related_name="pending_licences")
    subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.CASCADE, related_name="pending_licences"
    )
    seat_change = models.ForeignKey(
        "subscriptions.SeatChange", on_delete=models.CASCADE, related_name="pending_licences"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org_user", "subscription"], name="pending_licence_once_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.org_user} waits for {self.subscription} ({self.seat_change_id})"


class LicenceNotice(models.Model):
    """Something the organization's admins must read on Manage licences (a licence that
    was being bought and will not come); shown once to an admin, then marked seen."""

    organization = models.ForeignKey("subscriptions.Organization", on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.text[:80]


class IdempotencyKey(models.Model):
    """A write made through the API with an `Idempotency-Key` header, and its answer,
    kept for 24 hours per caller (an API key, or a signed-in person): a retry with the
    same key and body is answered the same without running again
    (`licensing/idempotency.py`). The answer is encrypted at rest: it may hold a
    signing link (`sign_url`), a capability."""

    # "key:<ApiKey id>" or "user:<User id>": whose key it is.
    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    # sha256 of the method, the path and the JSON body: a key may not be reused for another write.
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = EncryptedTextField(blank=True)  # JSON
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint("scope", "key", name="idempotency_key_unique_per_caller"),
        ]
        indexes = [models.Index("scope", "created_at", name="idempotency_key_expiry")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
