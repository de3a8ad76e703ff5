from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        from subscriptions import signals

        from . import receivers

        signals.seat_sync_created.connect(receivers.sync_stripe_quantity_on_seat_sync, weak=False)
        signals.subscription_cancel_requested.connect(receivers.stop_stripe_renewal_on_cancel, weak=False)
