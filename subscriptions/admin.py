from django.contrib import admin

from .models import ApiKey, Membership, Organization, Plan, Product, Subscription


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "billing_email", "account_manager", "connector")
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
    search_fields = ("organization__name",)
    autocomplete_fields = ("organization",)


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
