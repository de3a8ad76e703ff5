"""How the back office reacts to the signals of the apps below it: each tells account
managers."""

from . import notifications


def seat_change_signed(sender, *, seat_change_id, **kwargs) -> None:
    notifications.seat_change_signed(seat_change_id=seat_change_id)


def seat_sync_failing(sender, *, seat_sync_id, error="", **kwargs) -> None:
    notifications.push_failing(seat_sync_id=seat_sync_id, error=error)


def payment_refused(sender, *, payment_id, reason="", **kwargs) -> None:
    notifications.payment_refused(payment_id=payment_id, reason=reason)


def subscription_ended(sender, *, subscription_id, requested=True, reason="", **kwargs) -> None:
    if not requested:
        notifications.subscription_ended(subscription_id=subscription_id, reason=reason)


def renewal_setup_refused(sender, *, subscription_id, reason="", **kwargs) -> None:
    notifications.renewal_setup_refused(subscription_id=subscription_id, reason=reason)
