"""Rules Stripe documents (and one of our own) that localstripe does not enforce.

Each rule takes the endpoint's path template and the decoded parameters (already
checked against the pinned version's types) and raises StripeRefusal as Stripe would.
"""

import calendar
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from stripe_standin import currencies
from stripe_standin.errors import StripeRefusal

PAYMENT_INTENTS = "/v1/payment_intents"
CONFIRM = "/v1/payment_intents/{intent}/confirm"


@dataclass
class Memory:
    """What the stand-in learnt from earlier answers: for each PaymentIntent created
    through it, whether confirming it later needs a `return_url`; for each recurring
    Price, its interval (a subscription's next natural billing date)."""

    redirects_allowed: dict[str, bool] = field(default_factory=dict)
    price_intervals: dict[str, tuple[str, int]] = field(default_factory=dict)

    def remember_intent(self, intent: dict, params: dict) -> None:
        if intent.get("object") == "payment_intent" and intent.get("id"):
            self.redirects_allowed[intent["id"]] = _redirects_allowed(params)

    def remember_price(self, price: dict) -> None:
        recurring = price.get("recurring") if price.get("object") == "price" else None
        if isinstance(recurring, dict) and price.get("id") and recurring.get("interval"):
            self.price_intervals[price["id"]] = (
                recurring["interval"],
                int(recurring.get("interval_count") or 1),
            )


def _redirects_allowed(params: dict) -> bool:
    """A PaymentIntent may use redirect-based payment methods unless it was created
    with `automatic_payment_methods[allow_redirects]=never` or a list of payment
    method types of its own."""
    automatic = params.get("automatic_payment_methods")
    if isinstance(automatic, dict) and automatic.get("allow_redirects") == "never":
        return False
    return not params.get("allowed_payment_method_types")


def _is_off_session(params: dict) -> bool:
    return params.get("off_session") in ("true", "one_off", "recurring")


def payment_intent_confirmation(template: str, params: dict, memory: Memory, intent_id: str) -> None:
    """https://docs.stripe.com/changelog/2023-08-16/automatic-payment-methods: since
    2023-08-16 PaymentIntents accept the payment methods enabled in the Dashboard, so
    confirming one needs a `return_url` (for those that redirect) unless it is
    off-session or redirects were excluded; and `error_on_requires_action` needs the
    payment method types to be given."""
    if template == PAYMENT_INTENTS and params.get("confirm") == "true":
        redirects_allowed = _redirects_allowed(params)
    elif template == CONFIRM:
        # An intent the stand-in did not see created: Stripe's default applies.
        redirects_allowed = memory.redirects_allowed.get(intent_id, True)
    else:
        return
    if not redirects_allowed:
        return
    if params.get("error_on_requires_action") == "true":
        raise StripeRefusal(
            "You cannot use `error_on_requires_action` with a PaymentIntent that accepts the payment "
            "methods enabled in your Dashboard. Give `allowed_payment_method_types` to fail payments "
            "that need an action.",
            param="error_on_requires_action",
        )
    if not params.get("return_url") and not _is_off_session(params):
        raise StripeRefusal(
            "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. "
            "Because some of these payment methods might redirect your customer off of your page, you "
            "must provide a `return_url`. If you don't want to accept redirect-based payment methods, "
            "set `automatic_payment_methods[enabled]` to `true` and "
            "`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and "
            "Payment Intents.",
            param="return_url",
            code="parameter_missing",
        )


CHARGED_AMOUNTS = {PAYMENT_INTENTS, "/v1/payment_intents/{intent}", "/v1/charges"}


def amounts(template: str, params: dict) -> None:
    """https://docs.stripe.com/currencies: minor units, amounts that must end in 0 or
    00, minimum and maximum charge amounts, whole-unit payouts (see currencies.py).
    Checked where the request names both the amount and its currency."""
    amount, currency = params.get("amount"), params.get("currency")
    if not isinstance(amount, str) or not isinstance(currency, str) or not amount:
        return
    currency = currency.lower()
    if template in CHARGED_AMOUNTS:
        currencies.check_charge_amount(int(amount), currency)
    elif template == "/v1/payouts":
        currencies.check_payout_amount(int(amount), currency)
    elif template in ("/v1/refunds", "/v1/invoiceitems", "/v1/prices", "/v1/plans"):
        currencies.check_minor_units(int(amount), currency)


QUANTITY_UPDATES = {"/v1/subscriptions/{subscription_exposed_id}", "/v1/subscription_items/{item}"}


def _changes_quantity(params: dict) -> bool:
    if "quantity" in params:
        return True
    items = params.get("items")
    return isinstance(items, list) and any(isinstance(item, dict) and "quantity" in item for item in items)


def proration_behavior_stated(template: str, params: dict) -> None:
    """Our own rule, not Stripe's (Stripe defaults to `create_prorations`): every
    quantity change on a subscription states its `proration_behavior`, because seatmgr
    charges the prorated difference itself and a renewal must not be prorated twice."""
    if template in QUANTITY_UPDATES and _changes_quantity(params) and "proration_behavior" not in params:
        raise StripeRefusal(
            "stripe_standin's strict rule (seatmgr's own, not Stripe's): a subscription quantity "
            "change must say `proration_behavior` (seatmgr charges the prorated difference itself, "
            "so it sends `none`); Stripe would default to `create_prorations` and bill it again.",
            param="proration_behavior",
            code="parameter_missing",
        )


SUBSCRIPTIONS = "/v1/subscriptions"


def _after(moment: datetime, unit: str, count: int) -> datetime:
    """`count` intervals after `moment`, a month's end clamped as Stripe bills it."""
    if unit in ("day", "week"):
        return moment + timedelta(days=count * (7 if unit == "week" else 1))
    months = count * (12 if unit == "year" else 1)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def billing_cycle_anchor_in_range(template: str, params: dict, memory: Memory) -> None:
    """https://docs.stripe.com/billing/subscriptions/billing-cycle: a new
    subscription's `billing_cycle_anchor` is a future timestamp, and no later than the
    next natural billing date (one interval of its price from now, for a price the
    stand-in saw created)."""
    anchor = params.get("billing_cycle_anchor")
    if template != SUBSCRIPTIONS or not isinstance(anchor, str) or not anchor.isdigit():
        return
    now = int(time.time())
    if int(anchor) <= now:
        raise StripeRefusal(
            f"billing_cycle_anchor cannot be in the past: {anchor} is before now ({now}).",
            param="billing_cycle_anchor",
        )
    items = params.get("items") if isinstance(params.get("items"), list) else []
    for item in items:
        interval = memory.price_intervals.get(item.get("price")) if isinstance(item, dict) else None
        if interval is None:
            continue
        natural = _after(datetime.fromtimestamp(now, tz=UTC), *interval)
        if int(anchor) > int(natural.timestamp()):
            raise StripeRefusal(
                f"billing_cycle_anchor cannot be later than next natural billing date "
                f"({int(natural.timestamp())}) for plan",
                param="billing_cycle_anchor",
            )


def check(template: str, params: dict, memory: Memory, path: str) -> None:
    intent_id = path.split("/")[3] if template == CONFIRM else ""
    payment_intent_confirmation(template, params, memory, intent_id)
    amounts(template, params)
    proration_behavior_stated(template, params)
    billing_cycle_anchor_in_range(template, params, memory)


CUSTOMER = "/v1/customers/{customer}"
SETUP_CONFIRM_PATH = re.compile(r"^/v1/setup_intents/[^/]+/confirm$")


def payment_methods_owned(template: str, params: dict, path: str) -> list[tuple[str, str, str]]:
    """The PaymentMethods a request uses on behalf of a customer, each as (payment
    method, customer, param), for `payment_method_owner` to check once the stand-in
    has looked them up."""
    if template == CUSTOMER:
        settings = params.get("invoice_settings")
        default = settings.get("default_payment_method") if isinstance(settings, dict) else None
        if isinstance(default, str) and default:
            return [(default, path.split("/")[3], "invoice_settings[default_payment_method]")]
    if template == PAYMENT_INTENTS:
        method, customer = params.get("payment_method"), params.get("customer")
        if isinstance(method, str) and method.startswith("pm_") and isinstance(customer, str) and customer:
            return [(method, customer, "payment_method")]
    return []


def payment_method_owner(payment_method: dict | None, payment_method_id: str, customer: str, param: str):
    """https://docs.stripe.com/api/customers/update#update_customer-invoice_settings-default_payment_method:
    a customer's default payment method is one "attached to the customer";
    https://docs.stripe.com/api/payment_intents/create#create_payment_intent-customer:
    "Payment methods attached to other Customers cannot be used with this
    PaymentIntent". localstripe checks neither."""
    if payment_method is None:
        raise StripeRefusal(
            f"No such PaymentMethod: '{payment_method_id}'", param=param, code="resource_missing"
        )
    owner = payment_method.get("customer")
    if param == "payment_method" and owner in (None, customer):
        return
    if owner != customer:
        raise StripeRefusal(
            f"The customer does not have a payment method with the ID {payment_method_id}. The payment "
            "method must be attached to the customer.",
            param=param,
        )


def card_saved_by(setup_intent: dict) -> tuple[str, str] | None:
    """https://docs.stripe.com/api/setup_intents/create#create_setup_intent-customer:
    "If present, the SetupIntent's payment method will be attached to the Customer on
    successful setup." localstripe does not attach it: (payment method, customer) of a
    SetupIntent that just succeeded, for the stand-in to attach, else None."""
    if setup_intent.get("object") != "setup_intent" or setup_intent.get("status") != "succeeded":
        return None
    method, customer = setup_intent.get("payment_method"), setup_intent.get("customer")
    if isinstance(method, str) and method and isinstance(customer, str) and customer:
        return method, customer
    return None
