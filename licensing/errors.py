from django.urls import reverse

from subscriptions.errors import Conflict, NotFound
from subscriptions.words import counted


class NoLicenceAvailable(Conflict):
    code = "no_licence_available"

    def __init__(self, subscription, needed: int = 1):
        self.subscription = subscription
        self.increase_url = (
            reverse("portal:admin_change", args=[subscription.pk])
            + f"?new_total={subscription.quantity + needed}"
        )
        product = subscription.plan.product.name
        what = "a licence" if needed == 1 else f"{needed} licences"
        in_use = (
            "the only one is in use"
            if subscription.quantity == 1
            else f"all {subscription.quantity} are in use"
        )
        super().__init__(
            f"No {product} licence is available: {in_use}. "
            f"Free {what} by making a user Inactive, or increase your seats to "
            f"{subscription.quantity + needed}.",
            increase_url=self.increase_url,
        )


class StatusCannotHoldLicence(Conflict):
    code = "status_cannot_hold_licence"

    def __init__(self, org_user):
        super().__init__(
            f"{org_user.name} is {org_user.get_status_display()}: only Active or Locked users "
            "can hold a licence."
        )


class AlreadyLicensed(Conflict):
    code = "already_licensed"

    def __init__(self, org_user, subscription):
        super().__init__(f"{org_user.name} already holds a {subscription.plan.product.name} licence.")


class DecreaseScheduled(Conflict):
    code = "decrease_scheduled"

    def __init__(self, subscription, seat_change):
        product, total, when = (
            subscription.plan.product.name,
            seat_change.new_quantity,
            seat_change.effective_at,
        )
        super().__init__(
            f"No {product} licence can be given: the decrease to {counted(total, 'user')} (seat "
            f"change {seat_change.number}) takes effect on {when.day} {when:%B %Y}, and "
            f"{counted(total, 'licence')} {'is' if total == 1 else 'are'} already in use. Free one by "
            "making a user Inactive, or withdraw the decrease first."
        )


class SubscriptionNotLive(Conflict):
    code = "subscription_not_live"

    def __init__(self, subscription):
        super().__init__(
            f"The {subscription.plan.product.name} subscription is "
            f"{subscription.get_status_display().lower()}: its licences cannot be assigned."
        )


class EmailAlreadyUsed(Conflict):
    code = "email_in_use"

    def __init__(self, email: str):
        super().__init__(f"A user with the email {email} already exists in your organization.")


class AlreadyWaitingForLicence(Conflict):
    code = "already_waiting_for_licence"

    def __init__(self, org_user, subscription):
        super().__init__(
            f"{org_user.name} is already waiting for a {subscription.plan.product.name} licence."
        )


class UnknownProduct(NotFound):
    """A product code that names no product: told apart from "not licensed", so that a
    typo in a connected app's configuration does not look like every user losing access."""

    code = "unknown_product"

    def __init__(self, codes: list[str]):
        listed = ", ".join(f"“{code[:50]}”" for code in codes)
        super().__init__(f"There is no product {listed}: check the product code.", field="product")


class NoLiveSubscription(Conflict):
    code = "no_live_subscription"

    def __init__(self, codes: list[str]):
        super().__init__(f"Your organization has no live subscription of: {', '.join(codes)}.")


class SeveralLiveSubscriptions(Conflict):
    code = "several_live_subscriptions"

    def __init__(self, codes: list[str]):
        super().__init__(
            f"Your organization has several live subscriptions of {', '.join(codes)}: "
            "assign the licence through /api/v1/subscriptions/{id}/licences/."
        )
