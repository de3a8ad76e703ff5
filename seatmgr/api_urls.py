from django.urls import include, path

urlpatterns = [
    path("", include("licensing.api_urls")),
]
