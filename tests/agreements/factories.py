"""Seat changes with a known quote, and their agreements.

The quote is fixed so that the PDF can be checked for exact amounts: €10.00 a seat,
with 19.5 of the period's 30 days left (1,684,800 of 2,592,000 seconds), 3 → 5 seats
costs -€19.50 + €32.50 = €13.00, and 3 → 2 seats -€19.50 + €13.00 = -€6.50.
"""

import base64
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from allauth.account.models import EmailAddress
from django.utils import timezone
from PIL import Image, ImageDraw

from agreements import services
from subscriptions import links
from subscriptions.models import CapabilityLink
from subscriptions.seat_changes import seat_change_create
from tests.factories import OrganizationFactory, PlanFactory, ProductFactory, SubscriptionFactory

UNIT_AMOUNT = 1000
OLD_QUANTITY = 3
QUOTES = {
    5: {"credit": -1950, "debit": 3250, "amount_due": 1300},
    2: {"credit": -1950, "debit": 1300, "amount_due": -650},
}


@dataclass(frozen=True)
class Quote:
    credit: int
    debit: int
    amount_due: int
    at: datetime


def seat_change_factory(*, new_quantity=5, organization_name=None, admin_email=None, **named_signer):
    """A draft seat change 3 → `new_quantity` (5 or 2) quoted a second ago (to be signed
    by `signer_name`, `signer_email` when given)."""
    at = timezone.now().replace(microsecond=0) - timedelta(seconds=1)
    plan = PlanFactory(
        product=ProductFactory(code="documents"),
        code="documents-agreements",
        name="Documents monthly",
        unit_amount=UNIT_AMOUNT,
    )
    organization = OrganizationFactory(**({"name": organization_name} if organization_name else {}))
    subscription = SubscriptionFactory(
        organization=organization,
        plan=plan,
        quantity=OLD_QUANTITY,
        current_period_start=at - timedelta(days=10, hours=12),
        current_period_end=at + timedelta(days=19, hours=12),
        **({"admin_email": admin_email} if admin_email else {}),
    )
    return seat_change_create(
        subscription=subscription,
        new_quantity=new_quantity,
        quote=Quote(at=at, **QUOTES[new_quantity]),
        renewal_amount=UNIT_AMOUNT * new_quantity,
        licences_in_use=0,
        **named_signer,
    )


def agreement_factory(**kwargs):
    return services.agreement_issue(seat_change=seat_change_factory(**kwargs))


def drawn_signature_data_url(size=(600, 200)) -> str:
    """A PNG like the signing page's canvas exports: dark strokes on transparency."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.line([(40, 150), (120, 40), (180, 160), (260, 60), (340, 150)], fill="#1d2330", width=4)
    draw.line([(380, 120), (560, 110)], fill="#1d2330", width=3)
    return png_data_url(image)


def png_data_url(image) -> str:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def signing_link(agreement, email="ada@customer.example"):
    """A signing link of the agreement's seat change, emailed to `email`."""
    link, _ = links.link_issue(
        subscription=agreement.seat_change.subscription,
        action=CapabilityLink.Action.SIGN,
        email=email,
        seat_change=agreement.seat_change,
    )
    return link


def sign(agreement, *, signer_email="ada@customer.example", **overrides):
    """Sign with valid input unless told otherwise, through a signing link emailed to
    `signer_email` (or as `signer`)."""
    arguments = {
        "agreement": agreement,
        "signer": services.Signer(link=signing_link(agreement, signer_email)),
        "signer_name": "Ada Lovelace",
        "consent": True,
        "accept_terms": True,
        "signature_kind": "typed",
        "signature_text": "Ada Lovelace",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0",
        **overrides,
    }
    return services.agreement_sign(**arguments)


def verified(user):
    """`user` with their login address verified (signed-in admins sign as it)."""
    EmailAddress.objects.update_or_create(
        user=user, email=user.email.lower(), defaults={"verified": True, "primary": True}
    )
    return user
