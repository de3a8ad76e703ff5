"""Give the live subscriptions from before renewals were set up in Stripe their Stripe
customer and subscription, or bring linked ones in step. Idempotent; `--dry-run`
only reads and says what it would do."""

from django.core.management.base import BaseCommand

from billing import services
from billing.errors import PaymentProcessorUnavailable, PaymentRefused
from subscriptions.models import Subscription


class Command(BaseCommand):
    help = "Create or link the Stripe subscription of every live subscription (Stripe bills its renewals)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")

    def handle(self, *args, dry_run=False, **options):
        live = Subscription.objects.filter(
            status__in=(Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE)
        ).order_by("pk")
        counts: dict[str, int] = {}
        for subscription in live.select_related("organization", "plan__product"):
            try:
                report = services.stripe_subscription_link(subscription_id=subscription.pk, dry_run=dry_run)
                action, detail = report.action, report.detail
            except (PaymentRefused, PaymentProcessorUnavailable) as error:
                # One that Stripe refuses or cannot answer for must not stop the others.
                action, detail = "failed", getattr(error, "detail", "") or error.message
            counts[action] = counts.get(action, 0) + 1
            self.stdout.write(f"{subscription.pk} {subscription}: {action}: {detail}")
        summary = ", ".join(f"{count} {action}" for action, count in sorted(counts.items()))
        self.stdout.write(("Dry run: " if dry_run else "") + (summary or "no live subscriptions"))
