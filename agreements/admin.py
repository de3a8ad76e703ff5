from django.contrib import admin

from .models import Agreement


@admin.register(Agreement)
class AgreementAdmin(admin.ModelAdmin):
    """Read-only: agreements are written by the signing service, never by hand."""

    list_display = ("__str__", "organization", "sent_at", "viewed_at", "signed_at", "signer_email")
    list_filter = ("signature_kind", "signer_identified_by")
    search_fields = ("seat_change__number", "organization__name", "signer_email", "signed_sha256")
    list_select_related = ("seat_change", "organization")
    fields = (
        "organization",
        "seat_change",
        "sent_at",
        "viewed_at",
        "consent_at",
        "signed_at",
        "signer_name",
        "signer_email",
        "signer_identified_by",
        "signer_ip",
        "signer_user_agent",
        "signature_kind",
        "signature_text",
        "unsigned_sha256",
        "signed_sha256",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
