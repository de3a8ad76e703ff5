from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django.conf import settings
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

    def format_email_subject(self, subject: str) -> str:
        """Subjects name the vendor themselves (templates/account/email/): no
        "[<site name>]" prefix, which would be the Site row's name (a host and port)."""
        return subject

    def render_mail(self, template_prefix, email, context, headers=None):
        """Sign-in emails carry the vendor's name and the app's address, as every other
        email does; the subject is rendered without a request, so they are passed here
        rather than by the context processor."""
        context = {**context, "vendor_name": settings.VENDOR_NAME, "site_url": settings.SITE_URL}
        return super().render_mail(template_prefix, email, context, headers=headers)
