from django.urls import path

from . import views

app_name = "licensing"
urlpatterns = [
    path("", views.manage_licences, name="manage"),
    path("push-status/", views.push_status, name="push_status"),
    path("import/", views.import_upload, name="import_upload"),
    path("import/<int:pk>/", views.import_preview, name="import_preview"),
    path("users/add/", views.org_user_add, name="user_add"),
    path("users/<int:pk>/status/", views.org_user_status, name="user_status"),
    path("users/<int:pk>/activate/", views.org_user_activate, name="user_activate"),
    path("users/<int:pk>/delete/", views.org_user_delete, name="user_delete"),
    path("users/<int:pk>/licences/<int:subscription_pk>/assign/", views.licence_assign, name="assign"),
    path("users/<int:pk>/licences/<int:subscription_pk>/remove/", views.licence_remove, name="remove"),
]
