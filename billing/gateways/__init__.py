"""External systems billing talks to. Only `gateways.stripe` imports the Stripe SDK."""

from functools import lru_cache

from django.conf import settings

from .stripe import STRIPE_API_VERSION, Card, CardSetup, PaymentIntentResult, StripeGateway, WebhookEvent

__all__ = [
    "STRIPE_API_VERSION",
    "Card",
    "CardSetup",
    "PaymentIntentResult",
    "StripeGateway",
    "WebhookEvent",
    "stripe_gateway",
]


def stripe_gateway() -> StripeGateway:
    """The gateway for the current settings, one per configuration (it keeps its HTTP
    connections open between calls)."""
    return _gateway(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_PUBLISHABLE_KEY,
        settings.STRIPE_WEBHOOK_SECRET,
        settings.STRIPE_API_BASE,
        settings.STRIPE_JS_URL,
        settings.STRIPE_WEBHOOK_TOLERANCE,
    )


@lru_cache(maxsize=4)
def _gateway(secret_key, publishable_key, webhook_secret, api_base, js_url, tolerance) -> StripeGateway:
    return StripeGateway(
        secret_key=secret_key,
        publishable_key=publishable_key,
        webhook_secret=webhook_secret,
        api_base=api_base,
        js_url=js_url,
        webhook_tolerance=tolerance,
    )
