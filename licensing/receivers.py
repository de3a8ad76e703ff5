"""How licensing reacts to subscriptions' signals (kept thin: each calls one service)."""

from . import services


def free_licences_on_decrease(sender, *, seat_change, **kwargs) -> None:
    services.licences_free_for_decrease(seat_change=seat_change)
