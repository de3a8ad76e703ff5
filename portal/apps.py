from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Seat change portal"

    def ready(self) -> None:
        from billing import signals
        from licensing import hooks

        from . import receivers, services

        signals.payment_needs_customer.connect(receivers.email_payment_needed, weak=False)
        hooks.register_seat_buyer(services.add_user_buying_seat_for_api)
