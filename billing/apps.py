from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from subscriptions import signals
        from subscriptions.models import Plan, Product, SeatSync

        from . import receivers

        post_save.connect(receivers.sync_stripe_quantity_on_seat_sync, sender=SeatSync, weak=False)
        signals.subscription_cancel_requested.connect(receivers.stop_stripe_renewal_on_cancel, weak=False)
        signals.subscription_cancel_withdrawn.connect(receivers.resume_stripe_renewal_on_keep, weak=False)
        signals.subscription_activated.connect(receivers.set_up_stripe_renewal_on_activation, weak=False)
        signals.renewal_seats_changed.connect(receivers.sync_stripe_quantity_on_renewal_seats, weak=False)
        post_save.connect(receivers.sync_stripe_catalogue_on_save, sender=Product, weak=False)
        post_save.connect(receivers.sync_stripe_catalogue_on_save, sender=Plan, weak=False)
