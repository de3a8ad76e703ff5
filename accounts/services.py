"""Who an email address belongs to.

Only a *verified* allauth `EmailAddress` proves that a person controls an address:
the ones someone merely typed (an address added at `/accounts/email/` and not yet
confirmed, or a legacy login address never confirmed) prove nothing. Every place that
goes from an address to a person (sign-in codes, password resets, the back office's
new accounts, invitations) asks this module.
"""

from allauth.account.models import EmailAddress
from django.db import transaction

from .models import User


def verified_owner(email: str) -> User | None:
    """The active user who has verified `email`, or None. At most one can have
    (allauth's `unique_verified_email` constraint)."""
    address = (
        EmailAddress.objects.select_related("user")
        .filter(email=(email or "").strip().lower(), verified=True, user__is_active=True)
        .first()
    )
    return address.user if address else None


def has_verified_email(user, email: str) -> bool:
    """Whether `user` has verified `email`."""
    return EmailAddress.objects.filter(
        user_id=user.pk, email=(email or "").strip().lower(), verified=True
    ).exists()


def existing_account(email: str) -> User | None:
    """The account `email` already leads to: the one that verified it, else one using
    it as its login address without having verified it (accounts from before
    verification was mandatory). Addresses merely added, unverified, to some account
    lead nowhere."""
    return verified_owner(email) or User.objects.filter(email__iexact=(email or "").strip()).first()


def user_create_verified(*, email: str, full_name: str = "", password: str | None = None, **flags) -> User:
    """A sign-in account whose address the vendor vouches for: an account manager typed
    it for a new customer (whose activation email goes there), or it is demo data.

    The address is stored lower-case, verified and primary, so the person can sign in
    by emailed code at once. Other accounts' unverified claims on the same address are
    dropped: they never proved it was theirs, and it now verifiably belongs to this
    user. Refuses (ValueError) an address another account has verified or uses as its
    login address; callers check first."""
    email = email.strip().lower()
    with transaction.atomic():
        if verified_owner(email) is not None or User.objects.filter(email__iexact=email).exists():
            raise ValueError(f"{email} already belongs to an account.")
        user = User.objects.create_user(email=email, password=password, full_name=full_name, **flags)
        EmailAddress.objects.filter(email=email, verified=False).delete()
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user
