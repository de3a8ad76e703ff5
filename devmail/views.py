from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from .models import StoredEmail


def _debug_only():
    if not settings.DEBUG:
        raise Http404


def mailbox(request):
    _debug_only()
    return render(request, "devmail/mailbox.html", {"emails": StoredEmail.objects.all()[:200]})


def message(request, pk: int):
    _debug_only()
    return render(request, "devmail/message.html", {"email": get_object_or_404(StoredEmail, pk=pk)})
