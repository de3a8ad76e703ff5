"""The app's URLs plus `/bench/bare/`: a Django JSON view with no database, no
authentication and no DRF, the ceiling the licence check is measured against."""

from django.http import JsonResponse
from django.urls import path

from seatmgr.urls import urlpatterns as app_urlpatterns


def bare(request):
    return JsonResponse({"licensed": True})


urlpatterns = [path("bench/bare/", bare, name="bench-bare"), *app_urlpatterns]
