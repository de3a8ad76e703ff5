from django.urls import path

from . import views

app_name = "subscriptions"
urlpatterns = [
    path("<int:pk>/", views.subscription_detail, name="detail"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("organization/", views.organization_switch, name="organization_switch"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
]
