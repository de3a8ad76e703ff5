from django.urls import path

from . import api

urlpatterns = [
    path("subscriptions/", api.SubscriptionListAPI.as_view(), name="api-subscriptions"),
    path(
        "subscriptions/<int:pk>/licences/",
        api.LicenceListAPI.as_view(),
        name="api-licences",
    ),
    path(
        "subscriptions/<int:pk>/licences/<int:user_id>/",
        api.LicenceDetailAPI.as_view(),
        name="api-licence",
    ),
    path("users/", api.OrgUserListAPI.as_view(), name="api-users"),
    path("users/<int:pk>/", api.OrgUserDetailAPI.as_view(), name="api-user"),
    path("licences/check", api.LicenceCheckAPI.as_view(), name="api-licence-check"),
]
