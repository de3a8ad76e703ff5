from django.urls import path, re_path

from subscriptions.api_views import not_found

from . import api


def route(pattern: str, view, name: str) -> list:
    """`pattern` with its trailing slash and without: both answer, neither redirects
    (a redirected POST would be followed as a GET and lose its write). The schema lists
    the first; the other is an alias (`url_alias`)."""
    alias = pattern[:-1] if pattern.endswith("/") else pattern + "/"
    return [
        path(pattern, view.as_view(), name=name),
        path(alias, view.as_view(url_alias=True)),
    ]


urlpatterns = [
    # First: the hot path.
    *route("licences/check", api.LicenceCheckAPI, "api-licence-check"),
    *route("subscriptions/", api.SubscriptionListAPI, "api-subscriptions"),
    *route("subscriptions/<int:pk>/licences/", api.LicenceListAPI, "api-licences"),
    *route("subscriptions/<int:pk>/licences/<int:user_id>/", api.LicenceDetailAPI, "api-licence"),
    *route("users/", api.OrgUserListAPI, "api-users"),
    *route("users/<int:pk>/", api.OrgUserDetailAPI, "api-user"),
    # Anything else under /api/v1/ (an unknown path, an id that is no whole number): JSON 404.
    re_path(r"^.*$", not_found),
]
