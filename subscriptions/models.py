import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Organization(models.Model):
    """A customer organisation: the tenant. Every customer-owned row points here."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    billing_email = models.EmailField()
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_organizations",
        limit_choices_to={"is_staff": True},
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}) in {self.organization}"


class Invitation(models.Model):
    """An existing account's address named as an organization's admin: the person
    becomes a member only by accepting, signed in as an account that verified this
    address, from the emailed link (a 256-bit token; only its hash is stored)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(help_text="Who is invited (lower-case).")
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.ADMIN)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=Q(accepted_at__isnull=True),
                name="invitation_one_open_per_address",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} invited to {self.organization}"


class Product(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Plan(models.Model):
    class Interval(models.TextChoices):
        MONTH = "month", "Monthly"
        YEAR = "year", "Yearly"

    class DecreasePolicy(models.TextChoices):
        IMMEDIATE = "immediate", "Immediately once approved"
        PERIOD_END = "period_end", "At the end of the current period"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="plans")
    code = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=100)
    interval = models.CharField(max_length=5, choices=Interval.choices)
    # Price of one seat for one interval, in minor units (cents) of `currency`.
    unit_amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="eur")
    min_seats = models.PositiveIntegerField(default=1)
    max_seats = models.PositiveIntegerField(default=1000)
    decrease_policy = models.CharField(
        max_length=12, choices=DecreasePolicy.choices, default=DecreasePolicy.IMMEDIATE
    )

    class Meta:
        ordering = ("product__name", "interval")
        constraints = [
            models.CheckConstraint(condition=Q(min_seats__gte=1), name="plan_min_seats_positive"),
            models.CheckConstraint(condition=Q(max_seats__gte=F("min_seats")), name="plan_max_at_least_min"),
        ]

    def __str__(self) -> str:
        return f"{self.product.name} {self.get_interval_display()}"


class Subscription(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Not yet active"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Payment overdue"
        CANCELLED = "cancelled", "Cancelled"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    # Seats paid for: the "Maximum active users" of the product.
    quantity = models.PositiveIntegerField()
    # The customer's admin for this subscription: activation and unique links go here.
    admin_email = models.EmailField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    activated_at = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    # Goes up by one whenever `quantity` changes; carried by each SeatSync so that a
    # connected org never takes an older count after a newer one.
    seats_version = models.PositiveIntegerField(default=0)
    stripe_customer_id = models.CharField(max_length=100, blank=True)
    stripe_subscription_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("organization__name", "plan__product__name")
        constraints = [
            models.CheckConstraint(
                condition=Q(current_period_end__gt=F("current_period_start")),
                name="subscription_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organization} · {self.plan}"

    @property
    def product(self) -> Product:
        return self.plan.product

    @property
    def is_live(self) -> bool:
        return self.status in (self.Status.ACTIVE, self.Status.PAST_DUE)

    @property
    def next_renewal_amount(self) -> int | None:
        """What the next renewal bills, in minor units (`money_story.subscription_renewal`:
        a decrease approved for the period end counts); None when it will not renew."""
        from .money_story import subscription_renewal

        renewal = subscription_renewal(self)
        return renewal.amount if renewal is not None else None


def hash_secret(raw: str) -> str:
    """SHA-256 of a high-entropy secret (API keys, capability tokens): those are
    random 256-bit values, so a fast hash is enough and nothing raw is stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """A per-organization API key. The raw key is shown once; only its hash is kept."""

    PREFIX = "sm_"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    # First characters of the key, to tell keys apart in lists.
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def generate_raw(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)


class CapabilityLink(models.Model):
    """An emailed unique link: a 256-bit random token that lets whoever holds it do
    one thing (change seats, cancel, sign one agreement) for one subscription,
    without signing in. Only the token's hash is stored."""

    class Action(models.TextChoices):
        CHANGE_SEATS = "change_seats", "Add or remove users"
        CANCEL = "cancel", "Cancel subscription"
        SIGN = "sign", "Sign a seat change agreement"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="capability_links")
    action = models.CharField(max_length=20, choices=Action.choices)
    # For signing links: the seat change to sign and who was asked to sign it.
    seat_change = models.ForeignKey(
        "SeatChange", null=True, blank=True, on_delete=models.CASCADE, related_name="signing_links"
    )
    email = models.EmailField(help_text="Who the link was sent to.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["subscription", "action"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()} link for {self.subscription}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class SeatChange(models.Model):
    """A request to change a subscription's number of seats, with its fixed quote.

    States follow DESIGN §3; transitions live in `subscriptions.seat_changes`.
    """

    class State(models.TextChoices):
        DRAFT = "draft", "Waiting for signature"
        SIGNED = "signed", "Signed"
        AWAITING_PAYMENT = "awaiting_payment", "Waiting for payment"
        AWAITING_APPROVAL = "awaiting_approval", "Waiting for approval"
        SCHEDULED = "scheduled", "Approved, takes effect at period end"
        APPLYING = "applying", "Being applied"
        APPLIED = "applied", "Applied"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    OPEN_STATES = (
        State.DRAFT,
        State.SIGNED,
        State.AWAITING_PAYMENT,
        State.AWAITING_APPROVAL,
        # An approved decrease waiting for its period end is still open: no other
        # change may start from a quantity that is about to change.
        State.SCHEDULED,
    )

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="seat_changes")
    number = models.CharField(max_length=20, unique=True, help_text="Agreement number.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    old_quantity = models.PositiveIntegerField()
    new_quantity = models.PositiveIntegerField()
    # The quote, fixed when the change is created and never recomputed.
    unit_amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    quoted_at = models.DateTimeField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    credit = models.IntegerField()
    debit = models.IntegerField()
    amount_due = models.IntegerField()
    renewal_amount = models.PositiveIntegerField()
    expires_at = models.DateTimeField()
    # Org users (ids) who lose their licence when a decrease takes effect.
    licences_to_free = models.JSONField(default=list, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_via = models.CharField(max_length=20, default="link")
    signer_name = models.CharField(max_length=200, blank=True)
    signer_email = models.EmailField(blank=True)
    state_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    # The account manager's decision on a decrease (approved or rejected), and when an
    # approved decrease of a period-end plan takes effect.
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    effective_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["subscription"],
                condition=Q(
                    state__in=["draft", "signed", "awaiting_payment", "awaiting_approval", "scheduled"]
                ),
                name="one_open_seat_change_per_subscription",
            ),
            models.CheckConstraint(
                condition=~Q(state="scheduled") | Q(effective_at__isnull=False),
                name="scheduled_seat_change_has_effective_at",
            ),
            models.CheckConstraint(
                condition=~Q(new_quantity=F("old_quantity")), name="seat_change_changes_something"
            ),
        ]
        indexes = [models.Index(fields=["state", "effective_at"])]

    def __str__(self) -> str:
        return f"{self.number}: {self.old_quantity} → {self.new_quantity}"

    @property
    def delta(self) -> int:
        return self.new_quantity - self.old_quantity

    @property
    def delta_size(self) -> int:
        return abs(self.delta)

    @property
    def is_increase(self) -> bool:
        return self.new_quantity > self.old_quantity

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class SeatSync(models.Model):
    """Outbox row: "push this seat count to the connected org". Written in the same
    transaction as the quantity it carries; `licensing` delivers it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Sending to your org"
        DELIVERED = "delivered", "Live in your org"
        SUPERSEDED = "superseded", "Replaced by a newer count"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="seat_syncs")
    seat_change = models.ForeignKey(
        SeatChange, null=True, blank=True, on_delete=models.SET_NULL, related_name="seat_syncs"
    )
    quantity = models.PositiveIntegerField()
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=["subscription", "version"], name="seat_sync_version_once")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            # "Is an older count of this subscription still waiting?", asked by every
            # push: answered from this subscription's pending rows only.
            models.Index(
                fields=["subscription", "version"],
                condition=models.Q(status="pending"),
                name="seat_sync_pending_versions",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription}: {self.quantity} seats (v{self.version}, {self.status})"


class PendingInvalidation(models.Model):
    """A licence-check cache invalidation that could not reach the shared cache
    (`hot_cache`): retried by a periodic task, and until then every process answers
    that scope's checks without the cache. `scope` is an organization's id, 0 for what
    belongs to none, -1 for everything. One row per scope: a newer failure updates it."""

    scope = models.BigIntegerField(unique=True)
    failed_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=1)
    last_error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"Cache invalidation of scope {self.scope}, failed at {self.failed_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def record(cls, scopes, *, error: str) -> None:
        now = timezone.now()
        cls.objects.bulk_create(
            [cls(scope=scope, failed_at=now, last_error=error[:500]) for scope in scopes],
            update_conflicts=True,
            unique_fields=["scope"],
            update_fields=["failed_at", "last_error"],
        )
