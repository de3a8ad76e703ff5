from django.contrib import admin, messages

from . import links
from .errors import DomainError
from .models import (
    ApiKey,
    CapabilityLink,
    Membership,
    Organization,
    Plan,
    Product,
    SeatChange,
    SeatSync,
    Subscription,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "billing_email", "account_manager")
    search_fields = ("name", "slug", "billing_email")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "code")
    search_fields = ("name", "code")


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "product",
        "interval",
        "unit_amount",
        "currency",
        "min_seats",
        "max_seats",
        "decrease_policy",
    )
    list_filter = ("product", "interval")


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("organization", "plan", "quantity", "status", "current_period_end")
    list_filter = ("status", "plan__product")
    search_fields = ("organization__name", "admin_email")
    autocomplete_fields = ("organization",)
    actions = ["activate_and_send_links", "rotate_links"]

    @admin.action(description="Activate and email “<Product> is now active” with the unique links")
    def activate_and_send_links(self, request, queryset):
        for subscription in queryset:
            try:
                links.subscription_activate(subscription=subscription, actor=request.user, request=request)
            except DomainError as error:
                self.message_user(request, error.message, messages.WARNING)
            else:
                self.message_user(
                    request, f"{subscription} activated; links sent to {subscription.admin_email}."
                )

    @admin.action(description="Replace the unique links (old ones stop working) and email new ones")
    def rotate_links(self, request, queryset):
        for subscription in queryset.select_related("plan__product", "organization"):
            links.links_rotate(subscription=subscription, actor=request.user, request=request)
            self.message_user(request, f"New links for {subscription} sent to {subscription.admin_email}.")


@admin.register(CapabilityLink)
class CapabilityLinkAdmin(admin.ModelAdmin):
    list_display = ("subscription", "action", "email", "created_at", "last_used_at", "revoked_at")
    list_filter = ("action",)
    search_fields = ("email", "subscription__organization__name")
    readonly_fields = [f.name for f in CapabilityLink._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # links are issued by the app, which alone sees the raw token

    @admin.action(description="Revoke the selected links")
    def revoke(self, request, queryset):
        for link in queryset.select_related("subscription__organization"):
            links.link_revoke(link=link, actor=request.user, request=request)
        self.message_user(request, "Links revoked.")


@admin.register(SeatChange)
class SeatChangeAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "subscription",
        "old_quantity",
        "new_quantity",
        "state",
        "amount_due",
        "created_at",
    )
    list_filter = ("state",)
    search_fields = ("number", "subscription__organization__name")
    readonly_fields = [f.name for f in SeatChange._meta.fields]

    def has_add_permission(self, request):
        return False  # seat changes go through the state machine, not the admin


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role")
    autocomplete_fields = ("user", "organization")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "prefix", "created_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "created_by")
    search_fields = ("name", "prefix", "organization__name")

    def has_add_permission(self, request):
        # Keys are created by the customer's admin, who sees the raw key once.
        return False


@admin.register(SeatSync)
class SeatSyncAdmin(admin.ModelAdmin):
    """The outbox of seat counts for connected orgs (delivered by licensing)."""

    list_display = ("subscription", "quantity", "version", "status", "attempts", "last_error", "created_at")
    list_filter = ("status",)
    search_fields = ("subscription__organization__name",)
    readonly_fields = [f.name for f in SeatSync._meta.fields]

    def has_add_permission(self, request):
        return False
