from django.db import models
from django.db.models import Q

from subscriptions.models import Organization, Plan, Product, SeatChange, Subscription


class Payment(models.Model):
    """The payment of one seat change's prorated amount: at most one per seat change
    (a database constraint), whatever the number of clicks, tabs or cards tried.

    Each try with a card is an *attempt* (`attempts` counts them); the row holds the
    latest one. Amounts are integers in the minor unit of `currency`.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Paying…"
        REQUIRES_ACTION = "requires_action", "Waiting for your bank's confirmation"
        SUCCEEDED = "succeeded", "Paid"
        FAILED = "failed", "Not paid"
        REFUNDED = "refunded", "Refunded"

    OPEN_STATUSES = (Status.PENDING, Status.REQUIRES_ACTION)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="payments")
    seat_change = models.OneToOneField(SeatChange, on_delete=models.CASCADE, related_name="payment")
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)

    # The latest attempt: claimed (`attempt_started_at`), taken by the one process that
    # sends it (`attempt_sent_at`), then its charge request about to leave for Stripe
    # (`charge_sent_at`, committed before the call) with the card and mode below. An
    # attempt whose charge was never sent is simply sent again; one whose charge was
    # sent but never answered is asked about (the same request and idempotency key,
    # which Stripe answers with the first PaymentIntent for 24 h; a search by our
    # metadata after that), never charged blindly again.
    attempts = models.PositiveIntegerField(default=0)
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    attempt_sent_at = models.DateTimeField(null=True, blank=True)
    charge_sent_at = models.DateTimeField(null=True, blank=True)
    customer_present = models.BooleanField(default=False)
    stripe_customer_id = models.CharField(max_length=100, blank=True)
    stripe_payment_method_id = models.CharField(max_length=100, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=100, blank=True)
    card_label = models.CharField(max_length=60, blank=True, help_text="e.g. Visa •••• 4242")
    # Why the latest attempt failed: Stripe's error code ("card_declined",
    # "amount_too_small"…) or ours ("amount_mismatch"), the issuer's reason for a
    # decline ("insufficient_funds"…), and the words the customer was shown.
    failure_code = models.CharField(max_length=60, blank=True)
    decline_code = models.CharField(max_length=60, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    # Reconciliation's tries at an attempt Stripe could not answer (network, 5xx, 429):
    # each one failed pushes the next one back (`retry_at`); after
    # MAX_PROCESSOR_FAILURES the attempt fails and the account manager is told.
    processor_failures = models.PositiveIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)

    receipt_number = models.CharField(max_length=30, unique=True, null=True, blank=True)
    receipt_pdf = models.BinaryField(null=True, blank=True, editable=False)
    paid_at = models.DateTimeField(null=True, blank=True)
    # A charge that arrived for a seat change that could no longer be applied (it had
    # expired or been cancelled, or was paid already) is refunded in full.
    stripe_refund_id = models.CharField(max_length=100, blank=True)
    refund_reason = models.CharField(max_length=300, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.UniqueConstraint(
                fields=["stripe_payment_intent_id"],
                condition=~Q(stripe_payment_intent_id=""),
                name="payment_intent_once",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"Payment of {self.seat_change.number} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def idempotency_prefix(self) -> str:
        return f"seatmgr-payment-{self.pk}-attempt-{self.attempts}"


class StrayCharge(models.Model):
    """A charge that succeeded in Stripe but is not the payment: a second one for a seat
    change already paid (another attempt paid it first), or one of another amount or
    currency. It is refunded in full (`stripe_refund_id`), once, whatever the number of
    times it is seen; the customer is told of a refunded second charge once
    (`customer_told_at`). Reconciliation issues refunds still due."""

    class Reason(models.TextChoices):
        DUPLICATE = "duplicate_charge", "Charged twice"
        AMOUNT_MISMATCH = "amount_mismatch", "Another amount"

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="stray_charges")
    stripe_payment_intent_id = models.CharField(max_length=100, unique=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    stripe_refund_id = models.CharField(max_length=100, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    customer_told_at = models.DateTimeField(null=True, blank=True)
    processor_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("created_at",)
        indexes = [models.Index(fields=["refunded_at", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.stripe_payment_intent_id}"


class StripeEvent(models.Model):
    """A webhook event from Stripe, stored by its Stripe id before anything is done
    with it: a second delivery of the same event finds it here and changes nothing."""

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    # The API version Stripe rendered the event in. One that is not the version we pin
    # (`gateways.stripe.STRIPE_API_VERSION`) may have other shapes: it is stored and held,
    # not acted on, until a person has checked it (Django admin: "Process held events").
    api_version = models.CharField(max_length=40, blank=True)
    held_for_api_version = models.BooleanField(default=False)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # What processing did, for people reading the admin ("ignored: unknown type", ...).
    outcome = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-received_at",)
        indexes = [models.Index(fields=["processed_at", "received_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"


class RenewalInvoice(models.Model):
    """An invoice Stripe issued for a subscription (its first one, then each renewal:
    Stripe bills renewals itself, at the quantity we set), as its webhooks reported it."""

    class Status(models.TextChoices):
        PAID = "paid", "Paid"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        # The bank asks the cardholder to confirm the payment (3-D Secure).
        ACTION_REQUIRED = "action_required", "Waiting for your confirmation"
        VOID = "void", "Voided"
        # Stripe gave up collecting it (after its retries).
        UNCOLLECTIBLE = "uncollectible", "Not collected"

    # Invoices whose payment is still outstanding: they make the subscription past due.
    UNPAID_STATUSES = (Status.PAYMENT_FAILED, Status.ACTION_REQUIRED)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="renewal_invoices")
    stripe_invoice_id = models.CharField(max_length=100, unique=True)
    number = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    hosted_invoice_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Invoice {self.number or self.stripe_invoice_id} ({self.get_status_display()})"


class StripeProduct(models.Model):
    """The Stripe Product of one of our products (its name kept in step)."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="stripe_product")
    stripe_product_id = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=100, help_text="The name Stripe has.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.product} ({self.stripe_product_id})"


class StripePrice(models.Model):
    """A Stripe Price of a plan, for the unit amount, currency and interval it had then
    (a Price cannot change in Stripe). The plan's current one is `active`; the older
    ones are archived in Stripe and subscriptions are moved off them."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="stripe_prices")
    unit_amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    interval = models.CharField(max_length=5)
    stripe_price_id = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["plan"], condition=Q(active=True), name="stripe_price_one_active_per_plan"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} {self.unit_amount} {self.currency}/{self.interval} ({self.stripe_price_id})"

    def matches(self, plan: Plan) -> bool:
        return (self.unit_amount, self.currency, self.interval) == (
            plan.unit_amount,
            plan.currency,
            plan.interval,
        )


class StripeRenewalSetup(models.Model):
    """The outbox row of one subscription's Stripe subscription: written in the
    transaction that activates it (or by `stripe_link_subscriptions`), done once the
    Stripe customer and subscription exist and their ids are on the Subscription.
    A lost task is picked up again by reconciliation."""

    subscription = models.OneToOneField(Subscription, on_delete=models.CASCADE, related_name="stripe_setup")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["completed_at", "created_at"])]

    def __str__(self) -> str:
        return f"Stripe renewals of {self.subscription}"
