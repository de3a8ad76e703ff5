"""The Django admin has no sign-in form of its own: `/admin/login/` sends people to
allauth's, so one sign-in (its failed-attempt limits, email verification, sign-in by
code) guards every page, the vendor admin's included."""

from django.contrib.auth import REDIRECT_FIELD_NAME
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode


def admin_login(request):
    """Where the admin sends whoever it refuses. Signed-out visitors go to the sign-in
    page and come back; signed-in staff go on; anyone else signed in is told the admin
    is not for them (sending them to sign in again would only bring them back here).
    Nothing here checks a password, so nothing here can be guessed at."""
    next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("admin:index")
    user = request.user
    if not user.is_authenticated:
        return redirect(f"{reverse('account_login')}?{urlencode({REDIRECT_FIELD_NAME: next_url})}")
    if user.is_active and user.is_staff:
        return redirect(next_url)
    return render(request, "admin_sign_in_refused.html", status=403)
