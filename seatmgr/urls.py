from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from licensing import views as licensing_views
from observability.health import HealthView
from subscriptions.api_views import not_found as api_not_found

from .admin_sign_in import admin_login

urlpatterns = [
    # First: the API's hot path (licence checks) is matched before anything else.
    path("api/v1/", include("seatmgr.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from a URL of its own (no inline
    # script, which the Content-Security-Policy refuses); the template links our stylesheet
    # instead of drf-spectacular's inline <style>.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api_docs.html"),
        name="api-docs",
    ),
    # Anything else under /api/ answers a JSON 404, never an HTML page.
    re_path(r"^api/", api_not_found),
    path("", RedirectView.as_view(pattern_name="dashboard", permanent=False)),
    # For monitors and the containers' healthchecks: "ok" or "failing" per component.
    path("health/", HealthView.as_view(), name="health"),
    path("accounts/", include("allauth.urls")),
    # Before the admin's own URLs: its sign-in is allauth's (seatmgr/admin_sign_in.py).
    path("admin/login/", admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    path("dashboard/", licensing_views.dashboard, name="dashboard"),
    path("welcome/", licensing_views.wizard_resume, name="wizard"),
    path("welcome/<slug:step>/", licensing_views.wizard_step, name="wizard_step"),
    path("subscriptions/", include("subscriptions.urls")),
    path("licences/", include("licensing.urls")),
    path("agreements/", include("agreements.urls")),
    path("billing/", include("billing.urls")),
    path("backoffice/", include("backoffice.urls")),
    path("", include("portal.urls")),
]

# Development only: the settings refuse DEV_MAILBOX without DEBUG.
if settings.DEV_MAILBOX:
    urlpatterns.append(path("_dev/mail/", include("devmail.urls")))

handler403 = "seatmgr.error_pages.permission_denied"
