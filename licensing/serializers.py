"""Shapes of the licence API: what it accepts and what it answers.

Serializers only check the types of the input and resolve references within the
request's organization; the rules (seat limits, statuses, unique emails) are
enforced by `licensing.services`.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from subscriptions.models import Plan, Subscription

from .models import OrgUser
from .selectors import seat_summary

LIVE_STATUSES = (Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `email_in_use`.")
    detail = serializers.CharField(help_text="A message a person can act on.")


class InvalidInputErrorSerializer(ErrorSerializer):
    field = serializers.CharField(required=False, help_text="The input at fault, when one is.")
    errors = serializers.DictField(
        required=False, help_text="Every message, by field, when the input has the wrong shape."
    )


class ConflictErrorSerializer(ErrorSerializer):
    increase_url = serializers.CharField(
        required=False, help_text="Where an admin increases the seats (`no_licence_available`)."
    )


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
        help_text="What the next renewal bills, in minor units of plan.currency; "
        "null when the subscription will not renew.",
    )

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
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField()
    status = serializers.ChoiceField(choices=OrgUser.Status.choices, default=OrgUser.Status.ACTIVE)
    products = serializers.ListField(
        child=serializers.SlugField(),
        default=list,
        help_text="Product codes: the user gets a licence of the organization's live subscription of each.",
    )
    buy_seat_if_needed = serializers.BooleanField(
        default=False,
        help_text="When an Active or Locked user's licence is not available: add the user anyway, "
        "waiting for the licence, and start a seat change adding 1 seat (answered with 202, "
        "the change and its `sign_url`). The licence is given when the change is paid.",
    )

    def validate_products(self, codes: list[str]) -> list[int]:
        """Turn product codes into the ids of the organization's live subscriptions."""
        codes = sorted(set(codes))
        found: dict[str, list[int]] = {}
        rows = Subscription.objects.filter(
            organization=self.context["organization"],
            status__in=LIVE_STATUSES,
            plan__product__code__in=codes,
        ).values_list("plan__product__code", "pk")
        for code, pk in rows:
            found.setdefault(code, []).append(pk)
        missing = [code for code in codes if code not in found]
        if missing:
            raise serializers.ValidationError(
                f"Your organization has no live subscription of: {', '.join(missing)}."
            )
        ambiguous = [code for code, pks in found.items() if len(pks) > 1]
        if ambiguous:
            raise serializers.ValidationError(
                f"Your organization has several live subscriptions of {', '.join(ambiguous)}: "
                "assign the licence through /api/v1/subscriptions/{id}/licences/."
            )
        return [pks[0] for pks in found.values()]


class SeatChangeSummarySerializer(serializers.Serializer):
    number = serializers.CharField()
    state = serializers.CharField()
    amount_due = serializers.IntegerField(help_text="Due now, in minor units (cents) of `currency`.")
    currency = serializers.CharField()


class OrgUserBuyingSeatSerializer(serializers.Serializer):
    user = OrgUserSerializer(help_text="The user, saved and waiting for the licence.")
    seat_change = SeatChangeSummarySerializer()
    sign_url = serializers.URLField(
        help_text="Where an admin reads and signs the agreement, then pays (no sign-in needed)."
    )


class OrgUserUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    email = serializers.EmailField(required=False)
    status = serializers.ChoiceField(
        choices=OrgUser.Status.choices,
        required=False,
        help_text="Inactive, Room, Resource, Asset and Queue users lose their licences.",
    )


class LicenceCreateSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1)


class LicenceSerializer(serializers.Serializer):
    subscription_id = serializers.IntegerField()
    user_id = serializers.IntegerField(source="org_user_id")


class LicenceCheckSerializer(serializers.Serializer):
    licensed = serializers.BooleanField()
