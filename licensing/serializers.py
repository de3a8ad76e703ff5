"""Shapes of the licence API: what it accepts and what it answers.

Serializers only check the types of the input and resolve references within the
request's organization; the rules (seat limits, statuses, unique emails) are
enforced by `licensing.services`.
"""

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from subscriptions.models import Plan, Subscription
from subscriptions.money_story import seat_change_money, subscription_ends_on

from .emails import MAX_LENGTH as EMAIL_MAX_LENGTH
from .errors import NoLiveSubscription, SeveralLiveSubscriptions, UnknownProduct
from .models import OrgUser
from .selectors import SUBSCRIPTION_ORDERINGS, USER_ORDERINGS, product_code, seat_summary

LIVE_STATUSES = (Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE)
PRODUCT_CODE = re.compile(r"^[-a-zA-Z0-9_]+$")
MAX_ID = 2**63 - 1


def storable_text(field, data) -> str:
    """`data` if it is text PostgreSQL can store (DRF already refuses NUL characters;
    lone surrogates, which JSON can carry, would fail on the way to the database)."""
    if not isinstance(data, str):
        field.fail("invalid")
    try:
        data.encode("utf-8")
    except UnicodeEncodeError:
        raise serializers.ValidationError("This is not valid Unicode text.") from None
    return data


class StrictCharField(serializers.CharField):
    """Text only: `{"name": 0}` is refused, not stored as "0"."""

    def to_internal_value(self, data):
        return super().to_internal_value(storable_text(self, data))


class NameField(StrictCharField):
    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=200, **kwargs)


# A name must have something besides spaces (they are trimmed), and no NUL character.
extend_schema_field(
    {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^\x00]*[^\s\x00][^\x00]*$"}
)(NameField)


class SearchField(StrictCharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=100, allow_blank=True, **kwargs)


extend_schema_field({"type": "string", "maxLength": 100, "pattern": r"^[^\x00]*$"})(SearchField)


class StrictEmailField(serializers.EmailField):
    def __init__(self, **kwargs):
        super().__init__(max_length=EMAIL_MAX_LENGTH, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(storable_text(self, data))


class ProductCodeField(StrictCharField):
    """A product's code, as the catalogue writes it (letters, digits, - and _)."""

    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=50, **kwargs)

    def to_internal_value(self, data):
        code = super().to_internal_value(data)
        if not PRODUCT_CODE.fullmatch(code):
            raise serializers.ValidationError("A product code has only letters, digits, “-” and “_”.")
        return code


extend_schema_field({"type": "string", "minLength": 1, "maxLength": 50, "pattern": PRODUCT_CODE.pattern})(
    ProductCodeField
)


class StrictBooleanField(serializers.BooleanField):
    """`true` or `false` only, not "yes", 1 or "true"."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only, not "5" or 5.0."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ProductSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class PlanSerializer(serializers.Serializer):
    code = serializers.CharField()
    interval = serializers.ChoiceField(choices=Plan.Interval.choices)
    unit_amount = serializers.IntegerField(
        help_text="Price of one seat for one interval, in minor units (cents) of `currency`."
    )
    currency = serializers.CharField()


class SeatsSerializer(serializers.Serializer):
    maximum = serializers.IntegerField(help_text="Seats paid for (maximum active users).")
    active = serializers.IntegerField(help_text="Licences assigned.")
    available = serializers.IntegerField(help_text="Licences that can still be assigned.")


class SubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    product = ProductSerializer(source="plan.product")
    plan = PlanSerializer()
    seats = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Subscription.Status.choices)
    current_period_start = serializers.DateTimeField()
    current_period_end = serializers.DateTimeField()
    next_renewal_amount = serializers.IntegerField(
        allow_null=True,
        help_text="What the next renewal bills (what the card processor will bill: a decrease "
        "approved for the period end counts), in minor units of plan.currency; "
        "null when the subscription will not renew.",
    )
    ends_on = serializers.SerializerMethodField(
        help_text="When the subscription ends (cancelled at its period end); null when it renews."
    )

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_ends_on(self, subscription: Subscription):
        ends_on = subscription_ends_on(subscription)
        return serializers.DateTimeField().to_representation(ends_on) if ends_on else None

    @extend_schema_field(SeatsSerializer)
    def get_seats(self, subscription: Subscription) -> dict:
        return SeatsSerializer(seat_summary(subscription)).data


class OrgUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()
    status = serializers.ChoiceField(choices=OrgUser.Status.choices)
    licences = serializers.SerializerMethodField(
        help_text="Codes of the products this user holds a licence of."
    )
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_licences(self, org_user: OrgUser) -> list[str]:
        # `org_users_with_licences` prefetches the assignments with their product code.
        return sorted(assignment.product_code for assignment in org_user.licences.all())


class OrgUserCreateSerializer(serializers.Serializer):
    name = NameField()
    email = StrictEmailField(help_text="Stored and answered normalised: lower case, the domain in IDNA form.")
    status = serializers.ChoiceField(choices=OrgUser.Status.choices, default=OrgUser.Status.ACTIVE)
    products = serializers.ListField(
        child=ProductCodeField(),
        max_length=50,
        required=False,
        help_text="Product codes: the user gets a licence of the organization's live subscription of each. "
        "Left out, an Active or Locked user gets a licence of every live product (none for any other "
        "status); `[]` gives none.",
    )
    buy_seat_if_needed = StrictBooleanField(
        default=False,
        help_text="When an Active or Locked user's licence is not available: add the user anyway, "
        "waiting for the licence, and start a seat change adding 1 seat (answered with 202, "
        "the change and its `sign_url`). The licence is given when the change is paid.",
    )

    def validate_products(self, codes: list[str]) -> list[int]:
        """Turn product codes (compared case-insensitively) into the ids of the
        organization's live subscriptions of them."""
        codes = sorted({code.lower() for code in codes})
        unknown = [code for code in codes if product_code(code) is None]
        if unknown:
            raise UnknownProduct(unknown)
        found: dict[str, list[int]] = {}
        rows = Subscription.objects.filter(
            organization=self.context["organization"],
            status__in=LIVE_STATUSES,
        ).values_list("plan__product__code", "pk")
        for code, pk in rows:
            if code.lower() in codes:
                found.setdefault(code.lower(), []).append(pk)
        missing = [code for code in codes if code not in found]
        if missing:
            raise NoLiveSubscription(missing)
        ambiguous = [code for code, pks in found.items() if len(pks) > 1]
        if ambiguous:
            raise SeveralLiveSubscriptions(ambiguous)
        return [pks[0] for pks in found.values()]


class SeatChangeSummarySerializer(serializers.Serializer):
    number = serializers.CharField()
    state = serializers.CharField()
    amount_due = serializers.IntegerField(
        help_text="Due now, in minor units (cents) of `currency`: the prorated amount of an "
        "increase; 0 for a decrease, which is neither charged nor refunded."
    )
    currency = serializers.CharField()
    renewal_amount = serializers.IntegerField(
        allow_null=True,
        help_text="What the renewal after this change bills, in minor units of `currency`; "
        "null when the subscription is cancelled and ends at its period end (`ends_on`).",
    )
    renews_on = serializers.DateTimeField(allow_null=True, help_text="When it renews; null when it ends.")
    ends_on = serializers.DateTimeField(
        allow_null=True, help_text="When the subscription ends (it was cancelled); null when it renews."
    )


def seat_change_summary(seat_change) -> dict:
    """A seat change as the API shows it: its money story (`subscriptions.money_story`),
    the same amounts as its pages, agreement and emails."""
    money = seat_change_money(seat_change)
    return {
        "number": seat_change.number,
        "state": seat_change.state,
        "amount_due": money.due_now,
        "currency": money.currency,
        "renewal_amount": money.renewal.amount,
        "renews_on": None if money.renewal.ends else money.renewal.on,
        "ends_on": money.renewal.ends_on,
    }


class OrgUserBuyingSeatSerializer(serializers.Serializer):
    user = OrgUserSerializer(help_text="The user, saved and waiting for the licence.")
    seat_change = SeatChangeSummarySerializer()
    sign_url = serializers.URLField(
        help_text="Where an admin reads and signs the agreement, then pays (no sign-in needed)."
    )


class OrgUserUpdateSerializer(serializers.Serializer):
    name = NameField(required=False)
    email = StrictEmailField(required=False)
    status = serializers.ChoiceField(
        choices=OrgUser.Status.choices,
        required=False,
        help_text="Inactive, Room, Resource, Asset and Queue users lose their licences.",
    )
    products = serializers.ListField(
        child=ProductCodeField(),
        max_length=50,
        required=False,
        help_text="When this makes a user who holds none Active or Locked: the product codes they get a "
        "licence of. Left out, those they held before (or, for one who never held any, every live "
        "product). Ignored for any other change.",
    )

    validate_products = OrgUserCreateSerializer.validate_products


class LicenceCreateSerializer(serializers.Serializer):
    user_id = StrictIntegerField(min_value=1, max_value=MAX_ID)


class LicenceSerializer(serializers.Serializer):
    subscription_id = serializers.IntegerField()
    user_id = serializers.IntegerField(source="org_user_id")


class LicenceCheckSerializer(serializers.Serializer):
    licensed = serializers.BooleanField()


class LicenceCheckQuerySerializer(serializers.Serializer):
    """Query parameters of the licence check (read by `licensing.api.licence_check_input`)."""

    product = ProductCodeField(help_text="The product's code, whatever its case.")
    email = StrictEmailField(help_text="Compared case-insensitively, the domain in IDNA form or not.")


class UserFilterSerializer(serializers.Serializer):
    """Query parameters of the users list."""

    email = serializers.EmailField(
        required=False, max_length=EMAIL_MAX_LENGTH, help_text="Exactly this address, whatever its case."
    )
    status = serializers.ChoiceField(choices=OrgUser.Status.choices, required=False)
    product = ProductCodeField(required=False, help_text="Holding a licence of this product (code).")
    licensed = serializers.BooleanField(
        required=False, help_text="Holding any licence (true) or none (false)."
    )
    search = SearchField(required=False, help_text="Part of the name or the email, whatever its case.")
    ordering = serializers.ChoiceField(choices=USER_ORDERINGS, default="name")


class SubscriptionFilterSerializer(serializers.Serializer):
    """Query parameters of the subscriptions list."""

    product = ProductCodeField(required=False, help_text="Of this product (code, whatever its case).")
    status = serializers.ChoiceField(choices=Subscription.Status.choices, required=False)
    ordering = serializers.ChoiceField(choices=SUBSCRIPTION_ORDERINGS, default="product")
