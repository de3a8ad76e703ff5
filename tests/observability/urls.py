"""The app's URLs plus two that fail as a bug would: a page and an API endpoint."""

from django.urls import include, path
from rest_framework.permissions import AllowAny

from subscriptions.api_views import ApiView


def broken_page(request, token):
    raise RuntimeError(f"a bug while serving {request.path}")


class BrokenEndpoint(ApiView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        raise RuntimeError(f"a bug while serving {request.path}")


urlpatterns = [
    path("l/<str:token>/broken/", broken_page),
    path("api/v1/broken/", BrokenEndpoint.as_view()),
    path("", include("seatmgr.urls")),
]
