from django.contrib import admin, messages

from . import webhooks
from .models import Payment, RenewalInvoice, StripeEvent


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
