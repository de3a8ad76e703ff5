from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from .client_ip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are created by the vendor (account managers, seed data), never by sign-up."""

    def is_open_for_signup(self, request) -> bool:
        return False

    def can_delete_email(self, email_address: EmailAddress) -> bool:
        """Never the last verified address: allauth lets an account without one make an
        unverified address its primary (login) address."""
        if email_address.pk and email_address.verified:
            others_verified = (
                EmailAddress.objects.filter(user_id=email_address.user_id, verified=True)
                .exclude(pk=email_address.pk)
                .exists()
            )
            if not others_verified:
                return False
        return super().can_delete_email(email_address)

    def get_login_redirect_url(self, request) -> str:
        """Without a `next`, vendor staff with a back-office role land in the back
        office; everyone else on My subscriptions."""
        user = request.user
        if user.is_staff and user.staff_role:
            return reverse("backoffice:approvals")
        return super().get_login_redirect_url(request)

    def get_client_ip(self, request) -> str:
        """The address allauth's rate limits count by: the real client's behind the
        trusted proxies (TRUSTED_PROXY_COUNT), like every other rate limit here."""
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip
