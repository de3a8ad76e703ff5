"""The licence API (/api/v1/): subscriptions, org users and their licences.

Every view reads like a sentence: parse the input, call one service or selector,
answer. The organization always comes from the credentials
(`organization_for_request`); objects are looked up within it, so another
organization's ids answer 404 and never any data. Domain errors raised by the
services are rendered by `seatmgr.api_errors` as `{"code", "detail"}`.
"""

from django.http import HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from subscriptions import hot_cache
from subscriptions.api_auth import ApiKeyAuthentication
from subscriptions.api_http import MAX_URL_LENGTH
from subscriptions.api_schema import (
    FORBIDDEN,
    NOT_AUTHENTICATED,
    NOT_FOUND,
    conflict,
    error_response,
)
from subscriptions.api_throttling import LicenceCheckRateThrottle, who_is
from subscriptions.api_views import ApiView
from subscriptions.errors import DomainError, InvalidInput, NotFound
from subscriptions.models import Organization, Subscription
from subscriptions.tenancy_api import audit_actor, organization_for_request

from . import hooks, idempotency, selectors, services
from .emails import normalise_email
from .errors import NoLicenceAvailable, UnknownProduct
from .models import OrgUser
from .serializers import (
    PRODUCT_CODE,
    LicenceCheckQuerySerializer,
    LicenceCheckSerializer,
    LicenceCreateSerializer,
    LicenceSerializer,
    OrgUserBuyingSeatSerializer,
    OrgUserCreateSerializer,
    OrgUserSerializer,
    OrgUserUpdateSerializer,
    SubscriptionFilterSerializer,
    SubscriptionSerializer,
    UserFilterSerializer,
    seat_change_summary,
)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: a key created by one of your organization's admins.",
        }


AUTH_ERRORS = {401: NOT_AUTHENTICATED, 403: FORBIDDEN}
INVALID = error_response(
    "InvalidError", "invalid", description="A parameter is invalid", extra=("errors", "field")
)
NOT_FOUND_ERRORS = {404: NOT_FOUND}
UNKNOWN_PRODUCT = error_response(
    "UnknownProductError", "not_found", "unknown_product", description="Not found", extra=("field",)
)
# The same shape and codes as UNKNOWN_PRODUCT (one component, so one enum of codes).
USER_OR_PRODUCT_NOT_FOUND = OpenApiResponse(
    UNKNOWN_PRODUCT.response,
    description="No such user in your organization, or an unknown product (`not_found`, `unknown_product`)",
)


class OrganizationAPIView(ApiView, GenericAPIView):
    # Base of the customer endpoints: sets `self.organization` from the credentials.
    # (A comment, not a docstring: drf-spectacular would publish a docstring.)

    organization: Organization

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.organization = organization_for_request(request)

    def run_write(self, request, respond):
        return idempotency.run(request, respond)

    def parse(self, serializer_class, **context):
        serializer = serializer_class(
            data=self.request.data, context={"organization": self.organization, **context}
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def query(self, serializer_class) -> dict:
        # A plain dict: with a QueryDict, DRF reads a missing boolean as false (an HTML checkbox).
        serializer = serializer_class(data=self.request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def org_user(self, pk: int) -> OrgUser:
        org_user = selectors.org_user_get(organization=self.organization, pk=pk)
        if org_user is None:
            raise NotFound(f"There is no user {pk} in your organization.")
        return org_user

    def org_user_with_licences(self, pk: int) -> OrgUser:
        org_user = selectors.org_users_with_licences(organization=self.organization).filter(pk=pk).first()
        if org_user is None:
            raise NotFound(f"There is no user {pk} in your organization.")
        return org_user

    def subscription(self, pk: int) -> Subscription:
        subscription = selectors.subscription_get(organization=self.organization, pk=pk)
        if subscription is None:
            raise NotFound(f"There is no subscription {pk} in your organization.")
        return subscription


class SubscriptionListAPI(OrganizationAPIView):
    """Seats: `maximum` is the number paid for, `active` the licences assigned and
    `available` those that can still be assigned."""

    @extend_schema(
        operation_id="subscriptions_list",
        summary="Your organization's subscriptions with their seats",
        parameters=[SubscriptionFilterSerializer],
        responses={200: SubscriptionSerializer(many=True), 400: INVALID, **AUTH_ERRORS},
        tags=["subscriptions"],
    )
    def get(self, request):
        filters = self.query(SubscriptionFilterSerializer)
        page = self.paginate_queryset(
            selectors.subscriptions_filtered(organization=self.organization, **filters)
        )
        return self.get_paginated_response(SubscriptionSerializer(page, many=True).data)


class OrgUserListAPI(OrganizationAPIView):
    """Only Active and Locked users can hold a licence."""

    @extend_schema(
        operation_id="users_list",
        summary="Your organization's users and the licences they hold",
        parameters=[UserFilterSerializer],
        responses={200: OrgUserSerializer(many=True), 400: INVALID, **AUTH_ERRORS},
        tags=["users"],
    )
    def get(self, request):
        filters = self.query(UserFilterSerializer)
        if "email" in filters:
            filters["email"] = normalise_email(filters["email"]) or filters["email"].lower()
        page = self.paginate_queryset(selectors.org_users_filtered(organization=self.organization, **filters))
        return self.get_paginated_response(OrgUserSerializer(page, many=True).data)

    @extend_schema(
        operation_id="users_create",
        summary="Add a user, with a licence of each product given",
        description="All or nothing: when a licence cannot be given, the user is not created. "
        "With `buy_seat_if_needed` an Active or Locked user whose licence is not available is "
        "created waiting for it, and a seat change adding 1 seat is started (202).",
        request=OrgUserCreateSerializer,
        responses={
            201: OrgUserSerializer,
            202: OpenApiResponse(
                OrgUserBuyingSeatSerializer,
                description="Created, waiting for the licence of the seat change to sign and pay.",
            ),
            **AUTH_ERRORS,
            404: UNKNOWN_PRODUCT,
            **conflict(
                "UsersCreateConflictError",
                "email_in_use",
                "no_licence_available",
                "decrease_scheduled",
                "status_cannot_hold_licence",
                "no_live_subscription",
                "several_live_subscriptions",
                "seat_change_open",
                extra=("increase_url", "seat_change"),
            ),
        },
        tags=["users"],
    )
    def post(self, request):
        data = self.parse(OrgUserCreateSerializer)
        try:
            org_user = services.org_user_create(
                organization=self.organization,
                name=data["name"],
                email=data["email"],
                status=data["status"],
                subscription_ids=data.get("products"),
                request=request,
                **audit_actor(request),
            )
        except NoLicenceAvailable as error:
            if not (data["buy_seat_if_needed"] and data["status"] in OrgUser.LICENSED_STATUSES):
                raise
            return self.create_buying_seat(data, error.subscription)
        return Response(
            OrgUserSerializer(self.org_user_with_licences(org_user.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    def create_buying_seat(self, data, subscription: Subscription) -> Response:
        bought = hooks.seat_buyer()(
            subscription=subscription,
            name=data["name"],
            email=data["email"],
            status=data["status"],
            subscription_ids=data.get("products"),
            request=self.request,
            **audit_actor(self.request),
        )
        seat_change = bought.seat_change
        answer = {
            "user": self.org_user_with_licences(bought.org_user.pk),
            "seat_change": seat_change_summary(seat_change),
            "sign_url": bought.sign_url,
        }
        return Response(OrgUserBuyingSeatSerializer(answer).data, status=status.HTTP_202_ACCEPTED)


class OrgUserDetailAPI(OrganizationAPIView):
    """Deleting a user, or giving them a status other than Active or Locked, frees
    their licences."""

    @extend_schema(
        operation_id="users_retrieve",
        summary="One user and the licences they hold",
        responses={200: OrgUserSerializer, **AUTH_ERRORS, **NOT_FOUND_ERRORS},
        tags=["users"],
    )
    def get(self, request, pk: int):
        return Response(OrgUserSerializer(self.org_user_with_licences(pk)).data)

    @extend_schema(
        operation_id="users_partial_update",
        summary="Change a user's name, email or status",
        description="A status that cannot hold a licence (anything but Active or Locked) "
        "frees every licence the user held. Making a user who holds none Active or Locked gives "
        "them a licence of each of `products` (by default those they held before), all or "
        "nothing: with one not available nothing changes (409 `no_licence_available`).",
        request=OrgUserUpdateSerializer,
        responses={
            200: OrgUserSerializer,
            **AUTH_ERRORS,
            404: USER_OR_PRODUCT_NOT_FOUND,
            **conflict(
                "UsersUpdateConflictError",
                "email_in_use",
                "no_licence_available",
                "decrease_scheduled",
                "no_live_subscription",
                "several_live_subscriptions",
                extra=("increase_url",),
            ),
        },
        tags=["users"],
    )
    def patch(self, request, pk: int):
        org_user = self.org_user(pk)
        data = self.parse(OrgUserUpdateSerializer)
        if "products" in data:
            data["subscription_ids"] = data.pop("products")
        services.org_user_update(org_user=org_user, request=request, **data, **audit_actor(request))
        return Response(OrgUserSerializer(self.org_user_with_licences(pk)).data)

    @extend_schema(
        operation_id="users_destroy",
        summary="Delete a user, freeing their licences",
        responses={204: None, **AUTH_ERRORS, **NOT_FOUND_ERRORS},
        tags=["users"],
    )
    def delete(self, request, pk: int):
        services.org_user_delete(org_user=self.org_user(pk), request=request, **audit_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class LicenceListAPI(OrganizationAPIView):
    """A licence is refused when every seat is in use: the answer then carries
    `increase_url`, where an admin increases the seats."""

    @extend_schema(
        operation_id="licences_create",
        summary="Give a user a licence of this subscription",
        request=LicenceCreateSerializer,
        responses={
            201: LicenceSerializer,
            **AUTH_ERRORS,
            **NOT_FOUND_ERRORS,
            **conflict(
                "LicencesCreateConflictError",
                "no_licence_available",
                "decrease_scheduled",
                "status_cannot_hold_licence",
                "already_licensed",
                "subscription_not_live",
                extra=("increase_url",),
            ),
        },
        tags=["licences"],
    )
    def post(self, request, pk: int):
        subscription = self.subscription(pk)
        data = self.parse(LicenceCreateSerializer)
        assignment = services.licence_assign(
            subscription=subscription,
            org_user=self.org_user(data["user_id"]),
            request=request,
            **audit_actor(request),
        )
        return Response(LicenceSerializer(assignment).data, status=status.HTTP_201_CREATED)


class LicenceDetailAPI(OrganizationAPIView):
    """The freed licence can be given to someone else at once."""

    @extend_schema(
        operation_id="licences_destroy",
        summary="Take a user's licence of this subscription back",
        responses={
            204: None,
            400: INVALID,
            **AUTH_ERRORS,
            **NOT_FOUND_ERRORS,
        },
        tags=["licences"],
    )
    def delete(self, request, pk: int, user_id: int):
        services.licence_remove(
            subscription=self.subscription(pk),
            org_user=self.org_user(user_id),
            request=request,
            **audit_actor(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# The longest parameters that can be valid, with spaces around them (stripped).
MAX_PRODUCT_PARAMETER, MAX_EMAIL_PARAMETER = 100, 300


def licence_check_input(query) -> tuple[str, str]:
    """The product's code as the catalogue writes it and the normalised email, or a
    400 (`invalid`) or 404 (`unknown_product`)."""
    product, email = query.get("product", "").strip(), query.get("email", "").strip()
    if not product or not email:
        raise InvalidInput("Give both the `product` code and the user's `email`.")
    if len(product) > 50 or not PRODUCT_CODE.fullmatch(product):
        raise InvalidInput("`product` is a product code: letters, digits, “-” and “_”.", field="product")
    normalised = normalise_email(email)
    if normalised is None:
        raise InvalidInput("`email` is not a valid email address (of at most 254 characters).", field="email")
    code = selectors.product_code(product)
    if code is None:
        raise UnknownProduct([product])
    return code, normalised


def licence_check_answer(organization_id: int, query) -> bytes:
    """The answer's body, or a 400/404 domain error for invalid parameters."""
    product, email = licence_check_input(query)
    licensed = selectors.is_licensed(organization_id=organization_id, product_code=product, email=email)
    return b'{"licensed":true}' if licensed else b'{"licensed":false}'


def cached_licence_check_answer(organization_id: int, query) -> bytes | None:
    """The answer for these very parameters, validated once per cache generation; None
    when they are invalid (answered through DRF, with the error). Parameters too long
    to be valid are not cached: entries stay small, whatever a client sends."""
    product, email = query.get("product", ""), query.get("email", "")
    if len(product) > MAX_PRODUCT_PARAMETER or len(email) > MAX_EMAIL_PARAMETER:
        return None

    def compute() -> bytes | None:
        try:
            return licence_check_answer(organization_id, query)
        except DomainError:
            return None

    return hot_cache.get_or_compute(
        ("licence-check", organization_id, product, email), compute, organization_id=organization_id
    )


class LicenceCheckAPI(ApiView):
    """The hot path connected apps call on every login, kept lean on purpose: API keys
    only (a browser session is not how apps call it), answers from `hot_cache`, and the
    usual case answered without DRF's request wrapping,
    content negotiation and rendering, which cost about a fifth of a bare request."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = []
    throttle_classes = [LicenceCheckRateThrottle]

    def dispatch(self, request, *args, **kwargs):
        return self.answer_directly(request) or super().dispatch(request, *args, **kwargs)

    def answer_directly(self, request) -> HttpResponse | None:
        """The answer to a GET with a valid key and valid parameters, within the rate
        limit; None for anything else, which then goes through DRF so that errors have
        the API's shape."""
        if request.method != "GET" or len(request.path) + len(request.META["QUERY_STRING"]) > MAX_URL_LENGTH:
            return None
        try:
            authenticated = ApiKeyAuthentication().authenticate(request)
        except exceptions.AuthenticationFailed:
            return None
        if authenticated is None:
            return None
        principal = authenticated[0]
        body = cached_licence_check_answer(principal.organization_id, request.GET)
        if body is None:
            return None
        rate_limit = LicenceCheckRateThrottle.decide(who_is(principal))
        if not rate_limit.allowed:
            return None
        response = HttpResponse(body, content_type="application/json")
        for name, value in rate_limit.headers().items():
            response[name] = value
        return response

    @extend_schema(
        operation_id="licences_check",
        summary="Does this person hold a licence of this product?",
        description="Answers from the organization of the API key. Only live (active or "
        "past-due) subscriptions count; the product code and the email are compared "
        "case-insensitively. An unknown product answers 404 `unknown_product`, so that a "
        "typo is not mistaken for `licensed: false`.",
        parameters=[LicenceCheckQuerySerializer],
        responses={
            200: LicenceCheckSerializer,
            400: INVALID,
            401: NOT_AUTHENTICATED,
            404: error_response(
                "LicenceCheckNotFoundError",
                "unknown_product",
                description="No such product",
                extra=("field",),
            ),
        },
        auth=[{"ApiKey": []}],
        tags=["licences"],
    )
    def get(self, request):
        body = licence_check_answer(request.user.organization_id, request.query_params)
        return HttpResponse(body, content_type="application/json")
