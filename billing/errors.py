"""Billing's domain errors. The gateway turns Stripe's exceptions into these, by cause:

* the customer's card (a decline, a bank asking the cardholder to confirm): PaymentError
  subclasses, with Stripe's message for cardholders; the customer can try again or use
  another card;
* a request Stripe refused that is ours to fix (an invalid request, our keys or
  permissions, an idempotency clash, an amount too small once converted): PaymentRefused;
  definitive, nothing was charged, the account manager must look at it;
* Stripe unreachable or failing (network errors, 5xx, 429): PaymentProcessorUnavailable;
  the only one worth retrying, and whether anything was charged is settled later.

Anything else (a programming error) is not translated and surfaces as what it is.
Each message is one a customer can act on; none repeats what Stripe told us verbatim
unless it is meant for people (a card decline message is)."""

from subscriptions.errors import Conflict, DomainError, InvalidInput


class PaymentError(DomainError):
    """The customer's card was refused or needs them. Nothing was charged."""

    code = "payment_failed"
    status_code = 402

    def __init__(
        self,
        message: str,
        *,
        payment_intent_id: str = "",
        stripe_code: str = "",
        decline_code: str = "",
        **extra,
    ):
        self.payment_intent_id = payment_intent_id
        # Stripe's error code ("card_declined", "expired_card"…) and the issuer's reason
        # ("insufficient_funds", "generic_decline"…) when Stripe gives one.
        self.stripe_code = stripe_code
        self.decline_code = decline_code
        super().__init__(message, **extra)


class CardDeclined(PaymentError):
    code = "card_declined"
    DEFAULT_MESSAGE = "Your card was declined."


class AuthenticationRequired(PaymentError):
    """The bank wants the cardholder to confirm the payment (3-D Secure, in Stripe's
    words); they must be present, on the payment page."""

    code = "authentication_required"
    # Words for people: never "3-D Secure" or "authentication".
    DEFAULT_MESSAGE = "Your bank asks you to confirm this payment."

    def __init__(self, message: str = DEFAULT_MESSAGE, **kwargs):
        super().__init__(message, **kwargs)


# Stripe's `last_payment_error` messages written for developers, by their code, in
# people's words with the next step. Card decline messages are meant for cardholders
# and are kept.
PAYMENT_ERROR_WORDS = {
    "payment_intent_authentication_failure": (
        "Your bank could not confirm this payment, so nothing was charged. Try again and "
        "complete your bank's check when it appears, or pay with another card."
    ),
}


def payment_error_words(code: str, message: str) -> str:
    """The failure of a payment in words for the customer: ours for the codes whose
    Stripe message is for developers, else Stripe's (a decline, for cardholders)."""
    return PAYMENT_ERROR_WORDS.get(code or "", message)


class NoCardOnFile(PaymentError):
    code = "no_card_on_file"

    def __init__(self):
        super().__init__("There is no card on file: enter a card to pay.")


class PaymentRefused(DomainError):
    """Stripe refused a request for a reason that is ours, not the customer's: an
    invalid request, our API keys or permissions, an idempotency key reused with other
    parameters, an amount too small once converted. Sending it again would be refused
    again: the payment fails definitively and the account manager is alerted."""

    code = "payment_refused"
    status_code = 502
    MESSAGE = (
        "We could not take this payment, and your card was not charged. Please try again "
        "later, or contact your account manager: they have been told."
    )

    def __init__(self, *, stripe_code: str = "", http_status: int | None = None, detail: str = ""):
        # Stripe's error code ("amount_too_small", "resource_missing"…) or its error type.
        self.stripe_code = stripe_code
        self.http_status = http_status
        # What Stripe said, for the account manager and the logs (never shown to customers).
        self.detail = detail
        super().__init__(self.MESSAGE)


class IdempotencyKeyReused(PaymentRefused):
    """Stripe has our idempotency key from a request with other parameters (HTTP 400
    `idempotency_error`): it did not run this one. Reconciliation, asking about a
    charge with its key, looks the charge up by its metadata instead."""


class PaymentProcessorUnavailable(DomainError):
    """Stripe could not be reached or failed (network, 5xx, 429). Whether anything was
    charged is settled later (reconciliation, with bounded retries)."""

    code = "payment_processor_unavailable"
    status_code = 503

    def __init__(self, message: str = ""):
        super().__init__(
            message
            or "We could not reach our card processor. Please try again in a minute: "
            "you will never be charged twice."
        )


class NothingToPay(Conflict):
    code = "nothing_to_pay"


class WebhookRejected(InvalidInput):
    """A webhook whose signature or timestamp does not check out."""

    code = "webhook_rejected"
