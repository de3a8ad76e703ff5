"""What localstripe 1.15 lacks, translated on the way in and out.

The stand-in checks a request as Stripe's pinned API version reads it; localstripe
speaks an older dialect and refuses parameters it does not know ("Unexpected ..."). So
after the checks a request is rewritten into what localstripe understands, and its
answer back into the pinned version's shapes:

* Prices: localstripe has no /v1/prices; a price is a plan there (`unit_amount` ↔
  `amount`, `recurring[interval]` ↔ `interval`).
* Subscriptions and their items name a `price`; localstripe wants a `plan`, and its
  updates take no `proration_behavior` or `payment_behavior`. Items in its answers get
  the `price` Stripe returns beside `plan`.
* A subscription created with a future `billing_cycle_anchor` and
  `proration_behavior=none` gets the time until the anchor free, and its first full
  invoice at the anchor (docs.stripe.com/billing/subscriptions/billing-cycle).
  localstripe ignores the anchor and invoices a full period at once; its way of
  invoicing nothing until a date is `trial_end`, so that is what it is sent.
* Since 2025-03-31.basil the billing period lives on each subscription item
  (`items.data[].current_period_start/end`), no longer on the subscription: answers
  are reshaped that way.
* PaymentIntents: `allowed_payment_method_types` (the pinned version's name) is
  localstripe's `payment_method_types`; `return_url` and `automatic_payment_methods`
  are unknown to it (it never redirects); `off_session` is only a boolean there.
  `error_on_requires_action` is unknown too: localstripe leaves such a payment in
  `requires_action` where Stripe would fail it.
"""

from dataclasses import dataclass

PRICE_PATHS = ("/v1/prices", "/v1/prices/{price}")
SUBSCRIPTION_WRITES = (
    "/v1/subscriptions",
    "/v1/subscriptions/{subscription_exposed_id}",
    "/v1/subscription_items",
    "/v1/subscription_items/{item}",
)
UNKNOWN_TO_LOCALSTRIPE = {
    "/v1/payment_intents": ("return_url", "automatic_payment_methods", "error_on_requires_action"),
    "/v1/payment_intents/{intent}/confirm": ("return_url", "off_session", "error_on_requires_action"),
    "/v1/subscriptions/{subscription_exposed_id}": ("proration_behavior", "payment_behavior"),
    "/v1/subscription_items/{item}": ("proration_behavior", "payment_behavior"),
}


@dataclass
class Forward:
    path: str
    params: dict


def translate_request(template: str, path: str, params: dict) -> Forward:
    params = dict(params)
    if template in PRICE_PATHS:
        return Forward(path.replace("/v1/prices", "/v1/plans", 1), _plan_params(params))
    for name in UNKNOWN_TO_LOCALSTRIPE.get(template, ()):
        params.pop(name, None)
    if template == "/v1/payment_intents":
        if "allowed_payment_method_types" in params:
            params["payment_method_types"] = params.pop("allowed_payment_method_types")
        if params.get("off_session") in ("one_off", "recurring"):
            params["off_session"] = "true"
    if template == "/v1/subscriptions" and params.get("proration_behavior") == "none":
        anchor = params.pop("billing_cycle_anchor", None)
        if anchor is not None:
            params.pop("proration_behavior")
            params["trial_end"] = anchor
    if template in SUBSCRIPTION_WRITES:
        if "price" in params:
            params["plan"] = params.pop("price")
        if isinstance(params.get("items"), list):
            params["items"] = [_item_with_plan(item) for item in params["items"]]
    return Forward(path, params)


def _item_with_plan(item):
    if isinstance(item, dict) and "price" in item:
        item = dict(item)
        item["plan"] = item.pop("price")
    return item


def _plan_params(price: dict) -> dict:
    plan = {}
    renames = {"unit_amount": "amount", "nickname": "nickname", "currency": "currency"}
    for name, plan_name in renames.items():
        if name in price:
            plan[plan_name] = price[name]
    for name in ("metadata", "active", "product", "expand", "limit", "starting_after", "ending_before"):
        if name in price:
            plan[name] = price[name]
    recurring = price.get("recurring")
    if isinstance(recurring, dict):
        for name in ("interval", "interval_count", "usage_type"):
            if name in recurring:
                plan[name] = recurring[name]
    product_data = price.get("product_data")
    if isinstance(product_data, dict):
        plan["product"] = {"name": product_data.get("name", "")}
    return plan


def price_of(plan: dict) -> dict:
    """A localstripe plan as the price Stripe returns."""
    return {
        "id": plan.get("id"),
        "object": "price",
        "active": plan.get("active", True),
        "billing_scheme": plan.get("billing_scheme", "per_unit"),
        "created": plan.get("created"),
        "currency": plan.get("currency"),
        "livemode": False,
        "metadata": plan.get("metadata") or {},
        "nickname": plan.get("nickname"),
        "product": plan.get("product"),
        "recurring": {
            "interval": plan.get("interval"),
            "interval_count": plan.get("interval_count", 1),
            "usage_type": plan.get("usage_type", "licensed"),
        },
        "type": "recurring",
        "unit_amount": plan.get("amount"),
    }


def translate_response(template: str, body):
    if template in PRICE_PATHS:
        if isinstance(body, dict) and body.get("object") == "plan":
            return price_of(body)
        if isinstance(body, dict) and body.get("object") == "list":
            return {**body, "url": "/v1/prices", "data": [price_of(plan) for plan in body.get("data", [])]}
    return _with_prices(body)


def _with_prices(value):
    if isinstance(value, list):
        return [_with_prices(item) for item in value]
    if not isinstance(value, dict):
        return value
    value = {key: _with_prices(item) for key, item in value.items()}
    if value.get("object") == "subscription_item" and isinstance(value.get("plan"), dict):
        value.setdefault("price", price_of(value["plan"]))
    if value.get("object") == "subscription":
        _periods_on_items(value)
    return value


def _periods_on_items(subscription: dict) -> None:
    period = {name: subscription.pop(name, None) for name in ("current_period_start", "current_period_end")}
    if subscription.get("trial_end") and subscription["trial_end"] > (period["current_period_start"] or 0):
        # In Stripe the first period ends with the trial (or at the anchor, which was
        # sent as one), and so does the anchor default; localstripe counts a full
        # interval from the start whatever it was told.
        period["current_period_end"] = subscription["trial_end"]
        subscription["billing_cycle_anchor"] = (
            subscription.get("billing_cycle_anchor") or subscription["trial_end"]
        )
    items = (subscription.get("items") or {}).get("data") or []
    for item in items:
        if isinstance(item, dict):
            for name, moment in period.items():
                item.setdefault(name, moment)
