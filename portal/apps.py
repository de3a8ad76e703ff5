from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Seat change portal"

    def ready(self) -> None:
        from billing import signals

        from . import receivers

        signals.payment_needs_customer.connect(receivers.email_payment_needed, weak=False)
