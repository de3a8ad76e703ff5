from django.contrib import admin

from .models import Payment, RenewalInvoice, StripeEvent


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("seat_change", "organization", "amount", "currency", "status", "attempts", "paid_at")
    list_filter = ("status",)
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
    list_display = ("stripe_id", "type", "received_at", "processed_at", "outcome", "attempts")
    list_filter = ("type",)
    search_fields = ("stripe_id",)

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
