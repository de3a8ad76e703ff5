"""How the portal reacts to the signals of the apps below it (thin: each calls one
function)."""

from . import notifications


def email_payment_needed(sender, *, payment_id, **kwargs) -> None:
    notifications.payment_needed(payment_id=payment_id)
