"""Billing's domain errors. The gateway turns Stripe's exceptions into these; each
message is one a customer can act on, and none repeats what Stripe told us verbatim
unless it is meant for people (a card decline message is)."""

from subscriptions.errors import Conflict, DomainError, InvalidInput


class PaymentError(DomainError):
    """The card processor refused or could not take a payment. Nothing was charged."""

    code = "payment_failed"
    status_code = 402

    def __init__(self, message: str, *, payment_intent_id: str = "", decline_code: str = "", **extra):
        self.payment_intent_id = payment_intent_id
        self.decline_code = decline_code
        super().__init__(message, **extra)


class CardDeclined(PaymentError):
    code = "card_declined"
    DEFAULT_MESSAGE = "Your card was declined."


class AuthenticationRequired(PaymentError):
    """The bank wants the cardholder to confirm (3-D Secure); they must be present."""

    code = "authentication_required"
    DEFAULT_MESSAGE = "Your bank asks you to confirm this payment."

    def __init__(self, message: str = DEFAULT_MESSAGE, **kwargs):
        super().__init__(message, **kwargs)


class NoCardOnFile(PaymentError):
    code = "no_card_on_file"

    def __init__(self):
        super().__init__("There is no card on file: enter a card to pay.")


class PaymentProcessorUnavailable(DomainError):
    """Stripe could not be reached, or answered with an error that is ours, not the
    customer's. Whether anything was charged is settled later (reconciliation)."""

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
