from django.conf import settings


def site(request):
    return {"VENDOR_NAME": settings.VENDOR_NAME}
