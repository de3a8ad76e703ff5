from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Back office"

    def ready(self) -> None:
        from billing import signals as billing_signals
        from subscriptions import signals

        from . import receivers

        signals.seat_change_signed.connect(receivers.seat_change_signed, weak=False)
        signals.seat_sync_failing.connect(receivers.seat_sync_failing, weak=False)
        signals.subscription_ended.connect(receivers.subscription_ended, weak=False)
        billing_signals.payment_refused.connect(receivers.payment_refused, weak=False)
        billing_signals.renewal_setup_refused.connect(receivers.renewal_setup_refused, weak=False)
