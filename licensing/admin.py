from django.contrib import admin, messages

from . import delivery
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
    """Where each organization's seat counts go, to look at and try. Settings are
    edited in the back office ("Edit connector" on the account page), which checks
    them, keeps secrets write-only and audits the change; secrets are not shown here."""

    list_display = ("organization", "kind", "webhook_url", "updated_at")
    list_filter = ("kind",)
    search_fields = ("organization__name",)
    actions = ["send_test_push"]
    fields = (
        "organization",
        "kind",
        "webhook_url",
        "salesforce_login_url",
        "salesforce_username",
        "salesforce_client_id",
        "salesforce_subscriber_org_id",
        "salesforce_package_id",
        "updated_at",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Send a test push (the current seat counts)", permissions=["view"])
    def send_test_push(self, request, queryset):
        for connected in queryset.select_related("organization"):
            outcome = delivery.test_push(
                organization=connected.organization, actor=request.user, request=request
            )
            level = messages.SUCCESS if outcome.ok else messages.ERROR
            self.message_user(request, f"{connected.organization}: {outcome.detail}", level)


@admin.register(SeatSyncAttempt)
class SeatSyncAttemptAdmin(admin.ModelAdmin):
    list_display = ("seat_sync", "started_at", "outcome", "error")
    list_filter = ("outcome",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
