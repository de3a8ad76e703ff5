from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class LicensingConfig(AppConfig):
    name = "licensing"

    def ready(self) -> None:
        from subscriptions import hot_cache, signals

        from . import receivers
        from .models import LicenceAssignment, OrgUser

        signals.seat_change_applying.connect(receivers.free_licences_on_decrease, weak=False)
        signals.seat_change_applying.connect(receivers.give_pending_licences, weak=False)
        signals.seat_change_closed.connect(receivers.drop_pending_licences, weak=False)
        signals.seat_sync_created.connect(receivers.deliver_new_seat_sync, weak=False)
        signals.subscription_activated.connect(receivers.open_setup_wizard, weak=False)

        for model in (LicenceAssignment, OrgUser):
            post_save.connect(hot_cache.organization_changed, sender=model, weak=False)
            post_delete.connect(hot_cache.organization_changed, sender=model, weak=False)
