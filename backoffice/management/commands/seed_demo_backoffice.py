"""Demo data for the back office: `python manage.py seed_demo_backoffice` (idempotent).

Runs `seed_demo` first, then has two customers ask for decreases and sign them, so the
account manager's approvals queue has something in it:
- Acme Field Services, Documents monthly (decreases apply at once): 5 → 4 users;
- Globex Legal, Documents yearly (decreases apply at period end): 2 → 1, naming who
  loses their licence.
A subscription that already has a seat change is left alone.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from agreements import services as agreements
from licensing.models import OrgUser
from portal import services as portal
from subscriptions import links
from subscriptions.models import CapabilityLink, Subscription

DECREASES = [
    # organization slug, plan code, new total, users who lose their licence
    ("acme", "documents-monthly", 4, []),
    ("globex", "documents-yearly", 1, ["hal@globex.example"]),
]


class Command(BaseCommand):
    help = "Seed the demo data, then add decreases waiting for the account manager's approval."

    def handle(self, *args, **options):
        call_command("seed_demo", stdout=self.stdout, stderr=self.stderr)
        for slug, plan_code, new_total, losing in DECREASES:
            subscription = (
                Subscription.objects.select_related("organization", "plan__product")
                .filter(organization__slug=slug, plan__code=plan_code)
                .first()
            )
            if subscription is None or subscription.seat_changes.exists():
                continue
            admin = subscription.organization.memberships.select_related("user").get(
                user__email=subscription.admin_email
            )
            change = portal.seat_change_start(
                subscription=subscription,
                raw_new_total=new_total,
                licences_to_free=OrgUser.objects.filter(
                    organization=subscription.organization, email__in=losing
                ).values_list("pk", flat=True),
                requested_by=admin.user,
                requested_via="dashboard",
            )
            # Signed as an admin who opened the emailed signing link would sign it.
            signing_link, _ = links.link_issue(
                subscription=subscription,
                action=CapabilityLink.Action.SIGN,
                email=subscription.admin_email,
                seat_change=change,
                actor_label="seed_demo_backoffice",
            )
            agreements.agreement_sign(
                agreement=agreements.agreement_issue(seat_change=change),
                signer=agreements.Signer(link=signing_link),
                signer_name=admin.user.get_full_name(),
                consent=True,
                accept_terms=True,
                signature_kind="typed",
                signature_text=admin.user.get_full_name(),
                ip="127.0.0.1",
                user_agent="seed_demo_backoffice",
            )
            self.stdout.write(
                f"  {subscription.organization.name}: {subscription.plan.product.name} "
                f"{change.old_quantity} → {change.new_quantity} signed, waiting for approval"
            )
        self.stdout.write(
            self.style.SUCCESS("Back office: sign in as manager@seatmgr.local and open /backoffice/.")
        )
