from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"

    def ready(self) -> None:
        from . import hot_cache
        from .models import ApiKey, Organization, Product, Subscription

        # What the licence check and the API-key lookup answer from (subscriptions/hot_cache.py).
        receivers = [
            (Organization, hot_cache.organization_changed),
            (Subscription, hot_cache.organization_changed),
            (ApiKey, hot_cache.api_key_changed),
            (Product, hot_cache.everything_changed),
        ]
        for model, receiver in receivers:
            post_save.connect(receiver, sender=model, weak=False)
            post_delete.connect(receiver, sender=model, weak=False)
