"""Demo data for the embedded default: `python manage.py seed_demo` (idempotent)."""

from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import has_verified_email, user_create_verified
from licensing.models import LicenceAssignment, OrgUser
from subscriptions import links
from subscriptions.models import Membership, Organization, Plan, Product, Subscription

PASSWORD = "seatmgr-demo"  # noqa: S105 - demo data for local use only

PLANS = [
    # code, product, interval, unit amount (cents), min, max, decrease policy
    ("documents-monthly", "documents", "month", 1500, 1, 500, "immediate"),
    ("documents-yearly", "documents", "year", 15000, 1, 500, "period_end"),
    ("signature-monthly", "signature", "month", 900, 1, 200, "immediate"),
    ("signature-yearly", "signature", "year", 9000, 1, 200, "period_end"),
]

ORGS = [
    {
        "slug": "acme",
        "name": "Acme Field Services",
        "admin": ("admin@acme.example", "Ada Admin"),
        "subscriptions": [("documents-monthly", 5), ("signature-yearly", 3)],
        "users": [
            ("Ada Admin", "admin@acme.example", "active", ["documents", "signature"]),
            ("Bea Locked", "bea@acme.example", "locked", ["documents"]),
            ("Cal Active", "cal@acme.example", "active", ["documents"]),
            ("Dee Active", "dee@acme.example", "active", ["documents", "signature"]),
            ("Eli Inactive", "eli@acme.example", "inactive", []),
            ("Boardroom 1", "room1@acme.example", "room", []),
            ("Projector", "projector@acme.example", "resource", []),
            ("Van 7", "van7@acme.example", "asset", []),
            ("Support queue", "support@acme.example", "queue", []),
            ("Fay New", "fay@acme.example", "active", []),
        ],
    },
    {
        "slug": "globex",
        "name": "Globex Legal",
        "admin": ("admin@globex.example", "Gus Globex"),
        "subscriptions": [("documents-yearly", 2)],
        "users": [
            ("Gus Globex", "admin@globex.example", "active", ["documents"]),
            ("Hal Hidden", "hal@globex.example", "active", ["documents"]),
        ],
    },
]


class Command(BaseCommand):
    help = "Create demo organizations, products, plans, subscriptions, users and logins."

    @transaction.atomic
    def handle(self, *args, **options):
        manager = self._user(
            "manager@seatmgr.local", "Morgan Manager", is_staff=True, staff_role="account_manager"
        )
        self._user(
            "vendor@seatmgr.local",
            "Vendor Admin",
            is_staff=True,
            is_superuser=True,
            staff_role="manager",
        )
        plans = self._catalogue()
        now = timezone.now()
        for spec in ORGS:
            org, _ = Organization.objects.get_or_create(
                slug=spec["slug"],
                defaults={
                    "name": spec["name"],
                    "billing_email": spec["admin"][0],
                    "account_manager": manager,
                },
            )
            admin = self._user(*spec["admin"])
            Membership.objects.get_or_create(user=admin, organization=org, defaults={"role": "admin"})
            subscriptions = {}
            for plan_code, seats in spec["subscriptions"]:
                plan = plans[plan_code]
                days = 30 if plan.interval == "month" else 365
                subscription, created = Subscription.objects.get_or_create(
                    organization=org,
                    plan=plan,
                    defaults={
                        "quantity": seats,
                        "admin_email": spec["admin"][0],
                        "status": Subscription.Status.ACTIVE,
                        "current_period_start": now - timedelta(days=days // 3),
                        "current_period_end": now - timedelta(days=days // 3) + timedelta(days=days),
                        "activated_at": now - timedelta(days=days // 3),
                    },
                )
                subscriptions[plan.product.code] = subscription
                if created:
                    links.links_email(
                        subscription=subscription,
                        subject=f"{settings.VENDOR_NAME} {plan.product.name} is now active",
                    )
            for name, email, status, products in spec["users"]:
                org_user, _ = OrgUser.objects.get_or_create(
                    organization=org, email=email, defaults={"name": name, "status": status}
                )
                for code in products:
                    LicenceAssignment.objects.get_or_create(
                        organization=org, subscription=subscriptions[code], org_user=org_user
                    )

        self.stdout.write(self.style.SUCCESS("Demo data ready. Sign in with (password for all):"))
        self.stdout.write(
            "  (the customers' “… is now active” emails with their unique links are in the mailbox)"
        )
        self.stdout.write(f"  password:           {PASSWORD}")
        self.stdout.write("  customer admin:     admin@acme.example   (Acme Field Services)")
        self.stdout.write("  customer admin:     admin@globex.example (Globex Legal)")
        self.stdout.write("  account manager:    manager@seatmgr.local")
        self.stdout.write(
            f"  vendor admin:       vendor@seatmgr.local (Django admin at {settings.SITE_URL}/admin/)"
        )

    def _user(self, email, full_name, **flags) -> User:
        """Demo accounts have their address verified, as every account the vendor
        creates does, so they sign in by password or emailed code at once."""
        user = User.objects.filter(email=email).first()
        if user is None:
            return user_create_verified(email=email, password=PASSWORD, full_name=full_name, **flags)
        if not has_verified_email(user, email):  # seeded before verification was mandatory
            EmailAddress.objects.filter(user=user).update(primary=False)
            EmailAddress.objects.update_or_create(
                user=user, email=email, defaults={"verified": True, "primary": True}
            )
        return user

    def _catalogue(self) -> dict[str, Plan]:
        products = {
            code: Product.objects.get_or_create(code=code, defaults={"name": code.capitalize()})[0]
            for code in ("documents", "signature")
        }
        plans = {}
        for code, product, interval, amount, minimum, maximum, policy in PLANS:
            plans[code] = Plan.objects.get_or_create(
                code=code,
                defaults={
                    "product": products[product],
                    "name": f"{products[product].name} {interval.capitalize()}ly",
                    "interval": interval,
                    "unit_amount": amount,
                    "currency": "eur",
                    "min_seats": minimum,
                    "max_seats": maximum,
                    "decrease_policy": policy,
                },
            )[0]
        return plans
