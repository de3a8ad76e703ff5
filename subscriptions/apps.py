from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"

    def ready(self) -> None:
        from . import hot_cache
        from .models import ApiKey, Organization, Product, Subscription

        for model in (ApiKey, Organization, Product, Subscription):
            post_save.connect(hot_cache.invalidate_on_commit, sender=model, weak=False)
            post_delete.connect(hot_cache.invalidate_on_commit, sender=model, weak=False)
