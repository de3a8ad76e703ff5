"""How licensing reacts to subscriptions' signals (kept thin: each calls one service)."""

from . import services


def free_licences_on_decrease(sender, *, seat_change, **kwargs) -> None:
    services.licences_free_for_decrease(seat_change=seat_change)


def give_pending_licences(sender, *, seat_change, **kwargs) -> None:
    services.pending_licences_give(seat_change=seat_change)


def drop_pending_licences(sender, *, seat_change, **kwargs) -> None:
    services.pending_licences_drop(seat_change=seat_change)


def deliver_new_seat_sync(sender, *, seat_sync_id, subscription_id=None, **kwargs) -> None:
    from .tasks import deliver_after_commit

    deliver_after_commit(seat_sync_id, subscription_id)


def open_setup_wizard(sender, *, subscription, **kwargs) -> None:
    from . import wizard

    wizard.wizard_open_for_new_organization(organization=subscription.organization)
