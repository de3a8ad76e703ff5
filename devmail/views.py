from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from .models import StoredEmail


def _mailbox_on():
    """Every organization's emails are here (unique links, sign-in codes): shown only
    where DEV_MAILBOX is on, which the settings allow only with DEBUG."""
    if not settings.DEV_MAILBOX:
        raise Http404


def mailbox(request):
    _mailbox_on()
    return render(request, "devmail/mailbox.html", {"emails": StoredEmail.objects.all()[:200]})


def message(request, pk: int):
    _mailbox_on()
    return render(request, "devmail/message.html", {"email": get_object_or_404(StoredEmail, pk=pk)})
