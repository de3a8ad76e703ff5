from django.contrib import admin

from .models import LicenceAssignment, OrgUser


@admin.register(OrgUser)
class OrgUserAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "organization", "status")
    list_filter = ("status",)
    search_fields = ("name", "email", "organization__name")


@admin.register(LicenceAssignment)
class LicenceAssignmentAdmin(admin.ModelAdmin):
    list_display = ("org_user", "subscription", "created_at")
    search_fields = ("org_user__email", "org_user__name")
