"""The Content-Security-Policy header: django-csp's middleware, plus Stripe.

The policy of the settings (CONTENT_SECURITY_POLICY) allows our own origin only.
Payment pages load Stripe.js from STRIPE_JS_URL, and Stripe.js talks to
STRIPE_API_BASE; their origins are added here, from the settings as they are when
the response is made, so the policy follows them wherever they point: Stripe itself
in production, a localstripe on 127.0.0.1 in development and tests (whose port the
test session picks at run time).
"""

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings

STRIPE_API = "https://api.stripe.com"
# Stripe's 3-D Secure pages, framed by Stripe.js (Stripe's CSP guide).
STRIPE_HOOKS = "https://hooks.stripe.com"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def stripe_sources() -> dict[str, list[str]]:
    """What Stripe.js needs, per directive."""
    script = _origin(settings.STRIPE_JS_URL)
    if settings.STRIPE_API_BASE:  # a stand-in serves both the script and the API
        api = _origin(settings.STRIPE_API_BASE)
        return {"script-src": [script], "frame-src": [script], "connect-src": [api]}
    return {"script-src": [script], "frame-src": [script, STRIPE_HOOKS], "connect-src": [STRIPE_API]}


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        update = {directive: list(sources) for directive, sources in (parts.update or {}).items()}
        for directive, sources in stripe_sources().items():
            update[directive] = [*update.get(directive, []), *sources]
        parts.update = update
        return parts
