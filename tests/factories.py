from datetime import timedelta

import factory
from allauth.account.models import EmailAddress
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from licensing.models import LicenceAssignment, OrgUser
from subscriptions.models import Membership, Organization, Plan, Product, Subscription

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()

    @factory.post_generation
    def verified(obj, create, extracted, **kwargs):
        """The login address is verified, as for every account the vendor creates;
        `verified=False` for an account that never confirmed its address."""
        if create and extracted is not False:
            EmailAddress.objects.create(user=obj, email=obj.email.lower(), verified=True, primary=True)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Customer {n} Ltd")
    slug = factory.Sequence(lambda n: f"customer-{n}")
    billing_email = factory.Sequence(lambda n: f"billing{n}@example.com")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.ADMIN


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("code",)

    code = "documents"
    name = factory.LazyAttribute(lambda o: o.code.capitalize())


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan
        django_get_or_create = ("code",)

    product = factory.SubFactory(ProductFactory)
    code = factory.LazyAttribute(lambda o: f"{o.product.code}-{o.interval}ly")
    name = factory.LazyAttribute(lambda o: f"{o.product.name} {o.interval}ly")
    interval = Plan.Interval.MONTH
    unit_amount = 1500
    currency = "eur"
    min_seats = 1
    max_seats = 500


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    organization = factory.SubFactory(OrganizationFactory)
    plan = factory.SubFactory(PlanFactory)
    quantity = 3
    admin_email = factory.LazyAttribute(lambda o: o.organization.billing_email)
    status = Subscription.Status.ACTIVE
    current_period_start = factory.LazyFunction(lambda: timezone.now() - timedelta(days=10))
    current_period_end = factory.LazyFunction(lambda: timezone.now() + timedelta(days=20))
    activated_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=10))


class OrgUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrgUser

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"user{n}@customer.example")
    status = OrgUser.Status.ACTIVE


class LicenceAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LicenceAssignment

    subscription = factory.SubFactory(SubscriptionFactory)
    org_user = factory.SubFactory(
        OrgUserFactory, organization=factory.SelfAttribute("..subscription.organization")
    )
    organization = factory.SelfAttribute("subscription.organization")


def paid_seat_change(subscription, new_quantity: int):
    """A seat change of `subscription` to `new_quantity`, signed and paid (or approved,
    for a decrease): the quantity is set and its SeatSync row written, on commit."""
    from subscriptions import seat_changes

    change = signed_seat_change(subscription, new_quantity)
    seat_changes.seat_change_apply(seat_change=change, via="payment" if change.is_increase else "approval")
    subscription.refresh_from_db()
    change.refresh_from_db()
    return change


def signed_seat_change(subscription, new_quantity: int):
    """A seat change of `subscription` to `new_quantity`, quoted now and signed: awaiting
    its payment (an increase) or its approval (a decrease)."""
    from billing.proration import quote_seat_change
    from subscriptions import seat_changes

    quote = quote_seat_change(
        unit_amount=subscription.plan.unit_amount,
        currency=subscription.plan.currency,
        old_quantity=subscription.quantity,
        new_quantity=new_quantity,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        at=timezone.now(),
    )
    change = seat_changes.seat_change_create(
        subscription=subscription,
        new_quantity=new_quantity,
        quote=quote,
        renewal_amount=subscription.plan.unit_amount * new_quantity,
        licences_in_use=0,
    )
    with transaction.atomic():
        seat_changes.seat_change_mark_signed(
            seat_change=change, signer_name="Ada", signer_email="ada@example.com"
        )
    change.refresh_from_db()
    return change
