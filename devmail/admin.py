from django.contrib import admin

from .models import StoredEmail


@admin.register(StoredEmail)
class StoredEmailAdmin(admin.ModelAdmin):
    list_display = ("created_at", "to", "subject")
