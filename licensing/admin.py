from django.contrib import admin, messages

from . import delivery
from .connectors import webhook
from .models import ConnectedOrg, LicenceAssignment, OrgUser, SeatSyncAttempt


@admin.register(OrgUser)
class OrgUserAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "organization", "status")
    list_filter = ("status",)
    search_fields = ("name", "email", "organization__name")


@admin.register(LicenceAssignment)
class LicenceAssignmentAdmin(admin.ModelAdmin):
    list_display = ("org_user", "subscription", "created_at")
    search_fields = ("org_user__email", "org_user__name")


@admin.register(ConnectedOrg)
class ConnectedOrgAdmin(admin.ModelAdmin):
    """Staff edit where each organization's seat counts go, and try it."""

    list_display = ("organization", "kind", "webhook_url", "updated_at")
    list_filter = ("kind",)
    search_fields = ("organization__name",)
    autocomplete_fields = ("organization",)
    actions = ["send_test_push", "new_webhook_secret"]
    fieldsets = (
        (None, {"fields": ("organization", "kind")}),
        ("Signed webhook", {"fields": ("webhook_url", "webhook_secret")}),
        (
            "Salesforce License Management App",
            {
                "fields": (
                    "salesforce_login_url",
                    "salesforce_username",
                    "salesforce_password",
                    "salesforce_client_id",
                    "salesforce_client_secret",
                    "salesforce_subscriber_org_id",
                    "salesforce_package_id",
                )
            },
        ),
    )

    def save_model(self, request, obj, form, change):
        if obj.kind == ConnectedOrg.Kind.WEBHOOK and not obj.webhook_secret:
            obj.webhook_secret = webhook.new_secret()
        super().save_model(request, obj, form, change)

    @admin.action(description="Send a test push (the current seat counts)")
    def send_test_push(self, request, queryset):
        for connected in queryset.select_related("organization"):
            outcome = delivery.test_push(
                organization=connected.organization, actor=request.user, request=request
            )
            level = messages.SUCCESS if outcome.ok else messages.ERROR
            self.message_user(request, f"{connected.organization}: {outcome.detail}", level)

    @admin.action(description="Generate a new webhook secret")
    def new_webhook_secret(self, request, queryset):
        for connected in queryset:
            connected.webhook_secret = webhook.new_secret()
            connected.save(update_fields=["webhook_secret", "updated_at"])
        self.message_user(request, "New secrets set: give them to the receivers.")


@admin.register(SeatSyncAttempt)
class SeatSyncAttemptAdmin(admin.ModelAdmin):
    list_display = ("seat_sync", "started_at", "outcome", "error")
    list_filter = ("outcome",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
