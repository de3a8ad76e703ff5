from django.contrib import admin, messages

from . import services
from .models import OutboxMessage


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("failed", "failed"), ("open", "not done yet"), ("done", "done")]

    def queryset(self, request, queryset):
        if self.value() == "failed":
            return queryset.filter(failed_at__isnull=False)
        if self.value() == "open":
            return queryset.filter(done_at__isnull=True, failed_at__isnull=True)
        if self.value() == "done":
            return queryset.filter(done_at__isnull=False)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Side effects waiting, retrying or given up (filter "failed"): the last error
    says why; "Retry now" makes the chosen ones due again."""

    list_display = (
        "key",
        "job",
        "kind",
        "status",
        "attempts",
        "due_at",
        "created_at",
        "done_at",
        "failed_at",
    )
    list_filter = (StatusFilter, "kind", "job")
    search_fields = ("key", "job", "request_id")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry now")
    def retry_now(self, request, queryset):
        count = services.retry_now(pks=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} message(s) due again.", messages.SUCCESS)
