from django.contrib import admin, messages

from . import webhooks
from .models import Payment, RenewalInvoice, StripeEvent, StripePrice, StripeRenewalSetup


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = (
        "seat_change",
        "organization",
        "amount",
        "currency",
        "status",
        "failure_code",
        "attempts",
        "paid_at",
    )
    list_filter = ("status", "failure_code")
    search_fields = (
        "seat_change__number",
        "receipt_number",
        "stripe_payment_intent_id",
        "organization__name",
    )
    exclude = ("receipt_pdf",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = (
        "stripe_id",
        "type",
        "api_version",
        "held_for_api_version",
        "received_at",
        "processed_at",
        "outcome",
        "attempts",
    )
    list_filter = ("held_for_api_version", "type", "api_version")
    search_fields = ("stripe_id",)
    actions = ("process_held_events",)

    @admin.action(description="Process held events (their API version was checked)")
    def process_held_events(self, request, queryset):
        released = webhooks.stripe_events_release(
            event_ids=list(queryset.filter(held_for_api_version=True).values_list("pk", flat=True)),
            actor=request.user,
        )
        self.message_user(request, f"{released} held event(s) processed.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RenewalInvoice)
class RenewalInvoiceAdmin(admin.ModelAdmin):
    list_display = ("stripe_invoice_id", "subscription", "status", "amount", "currency", "created_at")
    list_filter = ("status",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StripeRenewalSetup)
class StripeRenewalSetupAdmin(admin.ModelAdmin):
    """Which subscriptions Stripe bills the renewals of, and why one is not set up yet."""

    list_display = ("subscription", "created_at", "completed_at", "attempts", "last_error")
    list_filter = (("completed_at", admin.EmptyFieldListFilter),)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StripePrice)
class StripePriceAdmin(admin.ModelAdmin):
    list_display = ("plan", "unit_amount", "currency", "interval", "stripe_price_id", "active", "created_at")
    list_filter = ("active",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
