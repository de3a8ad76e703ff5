"""The licence API (/api/v1/): subscriptions, org users and their licences.

Every view reads like a sentence: parse the input, call one service or selector,
answer. The organization always comes from the credentials
(`organization_for_request`); objects are looked up within it, so another
organization's ids answer 404 and never any data. Domain errors raised by the
services are rendered by `seatmgr.api_errors` as `{"code", "detail"}`.
"""

from django.http import HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from subscriptions.api_auth import ApiKeyAuthentication, ApiKeyPrincipal
from subscriptions.errors import InvalidInput, NotFound
from subscriptions.models import Organization, Subscription
from subscriptions.tenancy_api import audit_actor, organization_for_request

from . import hooks, selectors, services
from .errors import NoLicenceAvailable
from .models import OrgUser
from .serializers import (
    ConflictErrorSerializer,
    ErrorSerializer,
    InvalidInputErrorSerializer,
    LicenceCheckSerializer,
    LicenceCreateSerializer,
    LicenceSerializer,
    OrgUserBuyingSeatSerializer,
    OrgUserCreateSerializer,
    OrgUserSerializer,
    OrgUserUpdateSerializer,
    SubscriptionSerializer,
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


BAD_INPUT = {400: OpenApiResponse(InvalidInputErrorSerializer, description="Invalid input (`invalid`).")}
AUTH_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="No credentials, or an unknown or revoked API key."),
    403: OpenApiResponse(
        ErrorSerializer,
        description="`no_organization` or `admin_required` (signed-in person), or a failed CSRF check.",
    ),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="Not found in your organization.")}


def conflict(*codes: str) -> dict:
    listed = ", ".join(f"`{code}`" for code in codes)
    return {409: OpenApiResponse(ConflictErrorSerializer, description=f"Refused: {listed}.")}


class OrganizationAPIView(GenericAPIView):
    # Base of the customer endpoints: sets `self.organization` from the credentials.
    # (A comment, not a docstring: drf-spectacular would publish a docstring.)

    organization: Organization
    parser_classes = [JSONParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.organization = organization_for_request(request)

    def parse(self, serializer_class, **context):
        serializer = serializer_class(
            data=self.request.data, context={"organization": self.organization, **context}
        )
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
        responses={200: SubscriptionSerializer(many=True), **AUTH_ERRORS},
        tags=["subscriptions"],
    )
    def get(self, request):
        page = self.paginate_queryset(selectors.subscriptions_with_seats(organization=self.organization))
        return self.get_paginated_response(SubscriptionSerializer(page, many=True).data)


class OrgUserListAPI(OrganizationAPIView):
    """Only Active and Locked users can hold a licence."""

    @extend_schema(
        operation_id="users_list",
        summary="Your organization's users and the licences they hold",
        responses={200: OrgUserSerializer(many=True), **AUTH_ERRORS},
        tags=["users"],
    )
    def get(self, request):
        page = self.paginate_queryset(selectors.org_users_with_licences(organization=self.organization))
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
            **BAD_INPUT,
            **AUTH_ERRORS,
            **conflict("email_in_use", "no_licence_available", "status_cannot_hold_licence"),
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
                subscription_ids=data["products"],
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
            subscription_ids=data["products"],
            request=self.request,
            **audit_actor(self.request),
        )
        seat_change = bought.seat_change
        answer = {
            "user": self.org_user_with_licences(bought.org_user.pk),
            "seat_change": {
                "number": seat_change.number,
                "state": seat_change.state,
                "amount_due": seat_change.amount_due,
                "currency": seat_change.currency,
            },
            "sign_url": bought.sign_url,
        }
        return Response(OrgUserBuyingSeatSerializer(answer).data, status=status.HTTP_202_ACCEPTED)


class OrgUserDetailAPI(OrganizationAPIView):
    """Deleting a user, or giving them a status other than Active or Locked, frees
    their licences."""

    @extend_schema(
        operation_id="users_retrieve",
        summary="One user and the licences they hold",
        responses={200: OrgUserSerializer, **AUTH_ERRORS, **NOT_FOUND},
        tags=["users"],
    )
    def get(self, request, pk: int):
        return Response(OrgUserSerializer(self.org_user_with_licences(pk)).data)

    @extend_schema(
        operation_id="users_partial_update",
        summary="Change a user's name, email or status",
        description="A status that cannot hold a licence (anything but Active or Locked) "
        "frees every licence the user held.",
        request=OrgUserUpdateSerializer,
        responses={
            200: OrgUserSerializer,
            **BAD_INPUT,
            **AUTH_ERRORS,
            **NOT_FOUND,
            **conflict("email_in_use"),
        },
        tags=["users"],
    )
    def patch(self, request, pk: int):
        org_user = self.org_user(pk)
        data = self.parse(OrgUserUpdateSerializer)
        services.org_user_update(org_user=org_user, request=request, **data, **audit_actor(request))
        return Response(OrgUserSerializer(self.org_user_with_licences(pk)).data)

    @extend_schema(
        operation_id="users_destroy",
        summary="Delete a user, freeing their licences",
        responses={204: None, **AUTH_ERRORS, **NOT_FOUND},
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
            **BAD_INPUT,
            **AUTH_ERRORS,
            **NOT_FOUND,
            **conflict(
                "no_licence_available",
                "status_cannot_hold_licence",
                "already_licensed",
                "subscription_not_live",
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
            400: OpenApiResponse(
                InvalidInputErrorSerializer,
                description="The user does not hold this licence (`invalid`).",
            ),
            **AUTH_ERRORS,
            **NOT_FOUND,
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


class JSONOnly(BaseContentNegotiation):
    """The check endpoint only speaks JSON: skip parsing the Accept header."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def licence_check_input(query) -> tuple[str, str]:
    product, email = query.get("product", "").strip(), query.get("email", "").strip()
    if not product or not email:
        raise InvalidInput("Give both the `product` code and the user's `email`.")
    return product, email


def licence_check_answer(principal: ApiKeyPrincipal, product: str, email: str) -> HttpResponse:
    licensed = selectors.is_licensed(
        organization_id=principal.organization_id, product_code=product, email=email
    )
    return HttpResponse(
        b'{"licensed":true}' if licensed else b'{"licensed":false}',
        content_type="application/json",
    )


class LicenceCheckAPI(APIView):
    """The hot path connected apps call on every login, kept lean on purpose: API keys
    only (a browser session is not how apps call it), answers from `hot_cache`, and the
    usual case answered without DRF's request wrapping,
    content negotiation and rendering, which cost about a fifth of a bare request."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    parser_classes = []
    throttle_classes = []
    content_negotiation_class = JSONOnly

    def dispatch(self, request, *args, **kwargs):
        return self.answer_directly(request) or super().dispatch(request, *args, **kwargs)

    def answer_directly(self, request) -> HttpResponse | None:
        """The answer to a GET with a valid key and both parameters; None for anything
        else, which then goes through DRF so that errors have the API's shape."""
        if request.method != "GET":
            return None
        try:
            authenticated = ApiKeyAuthentication().authenticate(request)
            product, email = licence_check_input(request.GET)
        except (exceptions.AuthenticationFailed, InvalidInput):
            return None
        if authenticated is None:
            return None
        return licence_check_answer(authenticated[0], product, email)

    @extend_schema(
        operation_id="licences_check",
        summary="Does this person hold a licence of this product?",
        description="Answers from the organization of the API key. Only live (active or "
        "past-due) subscriptions count; the email is compared case-insensitively.",
        parameters=[
            OpenApiParameter("product", OpenApiTypes.STR, required=True, description="Product code"),
            OpenApiParameter("email", OpenApiTypes.EMAIL, required=True),
        ],
        responses={
            200: LicenceCheckSerializer,
            **BAD_INPUT,
            401: AUTH_ERRORS[401],
        },
        auth=[{"ApiKey": []}],
        tags=["licences"],
    )
    def get(self, request):
        product, email = licence_check_input(request.query_params)
        return licence_check_answer(request.user, product, email)
