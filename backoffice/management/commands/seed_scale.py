"""A vendor at its real size: `python manage.py seed_scale --orgs 10000 --users-per-org 100`.

Seeds organizations `scale-00000` … with what years of use leave behind:

- one or two subscriptions each (Scale Documents, Scale Signature), 70 % monthly
  (decreases apply at once), 30 % yearly (decreases at period end). Billing days are
  spread as real ones are: 45 % on the 1st at midnight UTC and 10 % on the 15th at
  midnight (so thousands end in the same minute), the rest on any day at any time;
  3 % are set to cancel at period end, 2 % are past due;
- `--users-per-org` org users (85 % Active, 5 % Locked, the rest Inactive, Room…),
  the Active and Locked ones licensed on the first subscription, every other one on
  the second;
- seat-change history: 1 to 4 applied changes per subscription, each with its push
  (a delivered `SeatSync` and its attempt), increases with their payment and receipt
  number, and the audit events they wrote; besides, 3 % of subscriptions have a
  decrease waiting for approval, 5 % of the period-end ones an approved decrease
  scheduled for their period end, 1 % a push still pending (its task lost), and 0.5 %
  a payment whose outcome never came;
- account managers (one per 250 organizations, `am-NNN@scale.example`; 5 % of the
  organizations have none) and a manager (`manager@scale.example`), none with a
  password;
- organization `scale-00000`, the large account: 5 years of history (60 seat changes
  and pushes, and `--history-events` audit events, 20 a day by default), and a
  decrease waiting for approval on its second subscription.

Rows go in with multi-row INSERTs (`execute_values`, which also lets past timestamps
through where the models say `auto_now_add`), `--chunk` organizations per
transaction. Each organization's data depends only on its number, and a chunk is
committed whole, so the command is idempotent per size and resumable: organizations
that exist are left as they are; a second run with the same size adds nothing, a run
with more organizations adds only the new ones.
"""

import calendar
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from psycopg2.extras import Json, execute_values

from accounts.models import User
from audit.models import AuditEvent
from billing.models import Payment
from licensing.models import LicenceAssignment, OrgUser, SeatSyncAttempt
from subscriptions.models import Membership, Organization, Plan, Product, SeatChange, SeatSync, Subscription
from subscriptions.periods import period_end_for

SLUG_PREFIX = "scale-"
STAFF_DOMAIN = "scale.example"
ORGS_PER_ACCOUNT_MANAGER = 250
LARGE_ACCOUNT_YEARS = 5
LARGE_ACCOUNT_CHANGES = 60
PRODUCTS = [("scale-documents", "Scale Documents"), ("scale-signature", "Scale Signature")]
PLAN_PRICES = {Plan.Interval.MONTH: 1_500, Plan.Interval.YEAR: 15_000}  # cents per seat
OTHER_STATUSES = [
    OrgUser.Status.INACTIVE,
    OrgUser.Status.ROOM,
    OrgUser.Status.RESOURCE,
    OrgUser.Status.ASSET,
    OrgUser.Status.QUEUE,
]


def slug_for(index: int) -> str:
    return f"{SLUG_PREFIX}{index:05d}"


def _insert(model, rows: list[dict]) -> list[int]:
    """Insert `rows` (column name → value, the same columns in each) into `model`'s
    table; returns their ids in order."""
    if not rows:
        return []
    columns = list(rows[0])
    # Table and column names come from this module, never from input.
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) VALUES %s RETURNING id"  # noqa: S608
    values = [
        tuple(Json(value) if isinstance(value, dict | list) else value for value in row.values())
        for row in rows
    ]
    with connection.cursor() as cursor:
        return [row[0] for row in execute_values(cursor.cursor, sql, values, page_size=2_000, fetch=True)]


def _user_row(email: str, *, full_name: str, joined: datetime, staff_role: str = "") -> dict:
    return {
        "password": make_password(None),
        "last_login": None,
        "is_superuser": False,
        "email": email,
        "first_name": "",
        "last_name": "",
        "is_staff": bool(staff_role),
        "is_active": True,
        "date_joined": joined,
        "full_name": full_name,
        "staff_role": staff_role,
    }


def _shift_month(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


def current_period(
    *, interval: str, month: int, day: int, at: timedelta, now: datetime
) -> tuple[datetime, datetime]:
    """The billing period containing `now` of a subscription billed on `day` (of
    `month`, for yearly plans) at `at` past midnight UTC."""
    for back in range(0, 13 if interval == Plan.Interval.MONTH else 2):
        if interval == Plan.Interval.MONTH:
            year, start_month = _shift_month(now.year, now.month, -back)
        else:
            year, start_month = now.year - back, month
        start = (
            datetime(year, start_month, min(day, calendar.monthrange(year, start_month)[1]), tzinfo=UTC) + at
        )
        if start <= now:
            return start, period_end_for(start, interval, anchor_day=day)
    raise AssertionError("no period start found")  # unreachable: a year back always fits


@dataclass
class Catalogue:
    plans: dict[tuple[str, str], Plan]
    account_managers: list[int]


class Command(BaseCommand):
    help = "Seed organizations at a vendor's real size (idempotent per size; see the module docstring)."

    def add_arguments(self, parser):
        parser.add_argument("--orgs", type=int, default=10_000)
        parser.add_argument("--users-per-org", type=int, default=100)
        parser.add_argument(
            "--history-events",
            type=int,
            default=LARGE_ACCOUNT_YEARS * 365 * 20,
            help="Audit events of the large account (scale-00000) over 5 years.",
        )
        parser.add_argument("--chunk", type=int, default=200, help="Organizations per transaction.")

    def handle(self, *args, orgs, users_per_org, history_events, chunk, **options):
        if orgs < 1 or users_per_org < 1 or chunk < 1 or history_events < 0:
            raise CommandError("--orgs, --users-per-org and --chunk must be at least 1.")
        if connection.vendor != "postgresql":
            raise CommandError("seed_scale writes with PostgreSQL's multi-row INSERTs: set DATABASE_URL.")
        started = time.monotonic()
        now = timezone.now().replace(microsecond=0)
        catalogue = self._catalogue(orgs, now)
        existing = set(
            Organization.objects.filter(slug__startswith=SLUG_PREFIX).values_list("slug", flat=True)
        )
        missing = [index for index in range(orgs) if slug_for(index) not in existing]
        for offset in range(0, len(missing), chunk):
            indexes = missing[offset : offset + chunk]
            with transaction.atomic():
                self._seed_chunk(indexes, catalogue, users_per_org, history_events, now)
            self.stdout.write(
                f"  {offset + len(indexes):,}/{len(missing):,} organizations "
                f"({time.monotonic() - started:.0f} s)"
            )
        if missing:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(missing):,} organizations added, {orgs - len(missing):,} already there "
                f"({time.monotonic() - started:.0f} s)."
            )
        )

    def _catalogue(self, orgs: int, now: datetime) -> Catalogue:
        plans = {}
        for code, name in PRODUCTS:
            product, _ = Product.objects.get_or_create(code=code, defaults={"name": name})
            for interval, policy in (
                (Plan.Interval.MONTH, Plan.DecreasePolicy.IMMEDIATE),
                (Plan.Interval.YEAR, Plan.DecreasePolicy.PERIOD_END),
            ):
                plans[(code, interval)], _ = Plan.objects.get_or_create(
                    code=f"{code}-{interval}ly",
                    defaults={
                        "product": product,
                        "name": f"{name} {interval}ly",
                        "interval": interval,
                        "unit_amount": PLAN_PRICES[interval],
                        "currency": "eur",
                        "max_seats": 100_000,
                        "decrease_policy": policy,
                    },
                )
        wanted = [
            (f"am-{number:03d}@{STAFF_DOMAIN}", f"Account Manager {number:03d}", "account_manager")
            for number in range(max(1, orgs // ORGS_PER_ACCOUNT_MANAGER))
        ] + [(f"manager@{STAFF_DOMAIN}", "Scale Manager", "manager")]
        known = set(User.objects.filter(email__endswith=f"@{STAFF_DOMAIN}").values_list("email", flat=True))
        _insert(
            User,
            [
                _user_row(email, full_name=name, joined=now, staff_role=role)
                for email, name, role in wanted
                if email not in known
            ],
        )
        account_managers = list(
            User.objects.filter(email__startswith="am-", email__endswith=f"@{STAFF_DOMAIN}")
            .order_by("email")
            .values_list("pk", flat=True)
        )
        return Catalogue(plans=plans, account_managers=account_managers)

    def _seed_chunk(self, indexes, catalogue, users_per_org, history_events, now):
        rngs = {index: random.Random(slug_for(index)) for index in indexes}
        ages = {index: timedelta(days=rngs[index].randint(30, 5 * 365)) for index in indexes}
        ages.update({0: timedelta(days=LARGE_ACCOUNT_YEARS * 365 + 10)} if 0 in indexes else {})

        admins = _insert(
            User,
            [
                _user_row(
                    f"admin@{slug_for(i)}.example", full_name=f"Admin of {slug_for(i)}", joined=now - ages[i]
                )
                for i in indexes
            ],
        )
        org_ids = _insert(
            Organization,
            [
                {
                    "name": f"Scale Customer {i:05d}",
                    "slug": slug_for(i),
                    "billing_email": f"billing@{slug_for(i)}.example",
                    "account_manager_id": (
                        None
                        if rngs[i].random() < 0.05 and i != 0
                        else catalogue.account_managers[i % len(catalogue.account_managers)]
                    ),
                    "created_at": now - ages[i],
                }
                for i in indexes
            ],
        )
        orgs = dict(zip(indexes, org_ids, strict=True))
        _insert(
            Membership,
            [
                {
                    "user_id": admin,
                    "organization_id": orgs[i],
                    "role": Membership.Role.ADMIN,
                    "created_at": now - ages[i],
                }
                for i, admin in zip(indexes, admins, strict=True)
            ],
        )

        # Org users: the licensed ones first, so "the first n licensed" is a prefix.
        user_rows, licensed_counts = [], {}
        for i in indexes:
            statuses = []
            for _ in range(users_per_org):
                roll = rngs[i].random()
                statuses.append(
                    OrgUser.Status.ACTIVE
                    if roll < 0.85
                    else OrgUser.Status.LOCKED
                    if roll < 0.90
                    else rngs[i].choice(OTHER_STATUSES)
                )
            statuses.sort(key=lambda status: status not in OrgUser.LICENSED_STATUSES)
            licensed_counts[i] = sum(status in OrgUser.LICENSED_STATUSES for status in statuses)
            user_rows += [
                {
                    "organization_id": orgs[i],
                    "name": f"User {number:05d} of {i:05d}",
                    "email": f"user{number:05d}@{slug_for(i)}.example",
                    "status": status,
                    "created_at": now - ages[i],
                    "updated_at": now - ages[i],
                }
                for number, status in enumerate(statuses)
            ]
        org_user_ids = iter(_insert(OrgUser, user_rows))
        org_users = {i: [next(org_user_ids) for _ in range(users_per_org)] for i in indexes}

        subscriptions = []  # (index, product code, row)
        for i in indexes:
            rng = rngs[i]
            codes = [PRODUCTS[0][0]] + ([PRODUCTS[1][0]] if rng.random() < 0.3 or i == 0 else [])
            for code in codes:
                interval = Plan.Interval.MONTH if rng.random() < 0.7 else Plan.Interval.YEAR
                roll = rng.random()
                if roll < 0.45:
                    day, at = 1, timedelta(0)
                elif roll < 0.55:
                    day, at = 15, timedelta(0)
                else:
                    day, at = rng.randint(1, 31), timedelta(seconds=rng.randrange(86_400))
                start, end = current_period(
                    interval=interval, month=rng.randint(1, 12), day=day, at=at, now=now
                )
                licensed = licensed_counts[i] if code == PRODUCTS[0][0] else licensed_counts[i] // 2
                status = Subscription.Status.PAST_DUE if rng.random() < 0.02 else Subscription.Status.ACTIVE
                subscriptions.append(
                    (
                        i,
                        code,
                        {
                            "organization_id": orgs[i],
                            "plan_id": catalogue.plans[(code, interval)].pk,
                            "quantity": max(licensed + rng.randint(0, max(2, licensed // 10)), 2),
                            "admin_email": f"admin@{slug_for(i)}.example",
                            "status": status,
                            "current_period_start": start,
                            "current_period_end": end,
                            "activated_at": now - ages[i],
                            "cancel_at_period_end": rng.random() < 0.03 and i != 0,
                            "seats_version": 0,
                            "stripe_customer_id": "",
                            "stripe_subscription_id": "",
                            "created_at": now - ages[i],
                        },
                        licensed,
                    )
                )
        # Seat-change history decides each subscription's seats_version.
        histories = [
            self._history(rngs[i], row, large=(i == 0 and code == PRODUCTS[0][0]), now=now, age=ages[i])
            for i, code, row, _ in subscriptions
        ]
        for (_, _, row, _), history in zip(subscriptions, histories, strict=True):
            row["seats_version"] = len(history)
        subscription_ids = _insert(Subscription, [row for _, _, row, _ in subscriptions])

        licences = []
        for (i, _, row, licensed), pk in zip(subscriptions, subscription_ids, strict=True):
            licences += [
                {"organization_id": orgs[i], "subscription_id": pk, "org_user_id": user, "created_at": now}
                for user in org_users[i][: min(licensed, row["quantity"])]
            ]
        _insert(LicenceAssignment, licences)

        self._seed_changes(subscriptions, subscription_ids, histories, orgs, rngs, catalogue, now)
        if 0 in indexes:
            self._large_account_events(orgs[0], org_users[0], history_events, now)

    @staticmethod
    def _history(rng, row, *, large: bool, now: datetime, age: timedelta) -> list[tuple[datetime, int, int]]:
        """(when, old quantity, new quantity) of the applied changes that led to the
        subscription's quantity, oldest first."""
        count = LARGE_ACCOUNT_CHANGES if large else rng.randint(1, 4)
        quantities = [row["quantity"]]
        for _ in range(count):
            previous = quantities[-1] + rng.choice([-3, -2, -1, 1, 2, 5, 10])
            quantities.append(
                previous if previous >= 1 and previous != quantities[-1] else quantities[-1] + 1
            )
        quantities.reverse()
        step = (age - timedelta(days=1)) / (count + 1)
        return [
            (now - age + step * (number + 1), quantities[number], quantities[number + 1])
            for number in range(count)
        ]

    def _seed_changes(self, subscriptions, subscription_ids, histories, orgs, rngs, catalogue, now):
        plans = {plan.pk: plan for plan in catalogue.plans.values()}
        changes, audit = [], []
        for (i, code, row, licensed), pk, history in zip(
            subscriptions, subscription_ids, histories, strict=True
        ):
            rng, org = rngs[i], orgs[i]
            plan = plans[row["plan_id"]]
            base = {
                "organization_id": org,
                "subscription_id": pk,
                "unit_amount": plan.unit_amount,
                "currency": "eur",
                "credit": 0,
                "debit": 0,
                "renewal_amount": plan.unit_amount * row["quantity"],
                "licences_to_free": [],
                "requested_by_id": None,
                "requested_via": "link",
                "signer_name": f"Admin of {slug_for(i)}",
                "signer_email": row["admin_email"],
                "state_reason": "",
                "decided_by_id": None,
                "decided_at": None,
                "effective_at": None,
            }
            audit.append(
                _audit(org, "subscription.activated", "subscriptions.Subscription", pk, row["created_at"])
            )
            pending_push = rng.random() < 0.01
            for number, (when, old, new) in enumerate(history, start=1):
                last = number == len(history)
                amount = (new - old) * plan.unit_amount // 2 if new > old else 0
                changes.append(
                    {
                        **base,
                        "number": f"S{i:05d}-{code[6]}-{number:03d}",
                        "state": SeatChange.State.APPLYING
                        if last and pending_push
                        else SeatChange.State.APPLIED,
                        "old_quantity": old,
                        "new_quantity": new,
                        "quoted_at": when,
                        "period_start": when,
                        "period_end": when + timedelta(days=15),
                        "amount_due": amount,
                        "expires_at": when + timedelta(days=7),
                        "created_at": when,
                        "updated_at": when + timedelta(minutes=5),
                        "signed_at": when + timedelta(minutes=2),
                        "decided_at": None if new > old else when + timedelta(hours=3),
                        "_kind": ("pending_push" if last and pending_push else "applied", number, when),
                    }
                )
                audit += [
                    # Its object id is the seat change's, known once inserted.
                    _audit(org, "seat_change.created", "subscriptions.SeatChange", len(changes) - 1, when),
                    _audit(
                        org,
                        "subscription.quantity_changed",
                        "subscriptions.Subscription",
                        pk,
                        when + timedelta(minutes=5),
                        before={"quantity": old},
                        after={"quantity": new, "via": "payment" if new > old else "approval"},
                    ),
                ]
            # The large account always has a decrease waiting, so that every size has
            # an approvals queue to show.
            open_roll = 0.0 if (i, code) == (0, PRODUCTS[1][0]) else rng.random()
            quantity = row["quantity"]
            if open_roll < 0.03 and quantity > 1:
                new = max(1, quantity - rng.randint(1, 5))
                signed = now - timedelta(days=rng.randint(0, 10), seconds=rng.randrange(86_400))
                changes.append(
                    {
                        **base,
                        "number": f"S{i:05d}-{code[6]}-open",
                        "state": SeatChange.State.AWAITING_APPROVAL,
                        "old_quantity": quantity,
                        "new_quantity": new,
                        "quoted_at": signed,
                        "period_start": signed,
                        "period_end": row["current_period_end"],
                        "amount_due": 0,
                        "expires_at": row["current_period_end"],
                        "created_at": signed - timedelta(minutes=3),
                        "updated_at": signed,
                        "signed_at": signed,
                        "_kind": ("open", 0, signed),
                    }
                )
            elif (
                open_roll < 0.08
                and plan.decrease_policy == Plan.DecreasePolicy.PERIOD_END
                and quantity > max(licensed, 1)
            ):
                decided = now - timedelta(days=rng.randint(1, 30))
                changes.append(
                    {
                        **base,
                        "number": f"S{i:05d}-{code[6]}-open",
                        "state": SeatChange.State.SCHEDULED,
                        "old_quantity": quantity,
                        "new_quantity": max(licensed, 1),
                        "quoted_at": decided - timedelta(days=1),
                        "period_start": decided - timedelta(days=1),
                        "period_end": row["current_period_end"],
                        "amount_due": 0,
                        "expires_at": row["current_period_end"],
                        "created_at": decided - timedelta(days=1),
                        "updated_at": decided,
                        "signed_at": decided - timedelta(days=1),
                        "decided_at": decided,
                        "effective_at": row["current_period_end"],
                        "_kind": ("open", 0, decided),
                    }
                )
            elif open_roll < 0.085:
                # An increase whose payment's outcome never reached us.
                asked = now - timedelta(hours=rng.randint(1, 48))
                changes.append(
                    {
                        **base,
                        "number": f"S{i:05d}-{code[6]}-open",
                        "state": SeatChange.State.AWAITING_PAYMENT,
                        "old_quantity": quantity,
                        "new_quantity": quantity + 1,
                        "quoted_at": asked,
                        "period_start": asked,
                        "period_end": row["current_period_end"],
                        "amount_due": plan.unit_amount,
                        "expires_at": asked + timedelta(days=7),
                        "created_at": asked,
                        "updated_at": asked,
                        "signed_at": asked,
                        "_kind": ("unpaid", 0, asked),
                    }
                )
        kinds = [change.pop("_kind") for change in changes]
        change_ids = _insert(SeatChange, changes)
        for change, pk in zip(changes, change_ids, strict=True):
            change["id"] = pk
        for event in audit:
            if event["object_type"] == "subscriptions.SeatChange":
                event["object_id"] = str(change_ids[int(event["object_id"])])
        self._seed_money_and_pushes(changes, kinds, now)
        _insert(AuditEvent, audit)

    def _seed_money_and_pushes(self, changes, kinds, now):
        payments, syncs = [], []
        for change, (kind, version, when) in zip(changes, kinds, strict=True):
            paid = change["new_quantity"] > change["old_quantity"] and change["amount_due"] > 0
            if kind in ("applied", "pending_push") and paid:
                payments.append(
                    _payment(
                        change, status=Payment.Status.SUCCEEDED, when=when, receipt=f"R-{change['number']}"
                    )
                )
            elif kind == "unpaid":
                payments.append(_payment(change, status=Payment.Status.PENDING, when=when, receipt=None))
            if kind in ("applied", "pending_push"):
                delivered = kind == "applied"
                syncs.append(
                    {
                        "organization_id": change["organization_id"],
                        "subscription_id": change["subscription_id"],
                        "seat_change_id": change["id"],
                        "quantity": change["new_quantity"],
                        "version": version,
                        "status": SeatSync.Status.DELIVERED if delivered else SeatSync.Status.PENDING,
                        "attempts": 1 if delivered else 3,
                        "next_attempt_at": None if delivered else now - timedelta(hours=1),
                        "last_error": "" if delivered else "Connection refused",
                        "created_at": change["updated_at"],
                        "delivered_at": change["updated_at"] + timedelta(seconds=1) if delivered else None,
                    }
                )
        _insert(Payment, payments)
        sync_ids = _insert(SeatSync, syncs)
        _insert(
            SeatSyncAttempt,
            [
                {
                    "seat_sync_id": pk,
                    "started_at": sync["created_at"],
                    "finished_at": sync["created_at"] + timedelta(milliseconds=300),
                    "outcome": SeatSyncAttempt.Outcome.DELIVERED
                    if sync["delivered_at"]
                    else SeatSyncAttempt.Outcome.FAILED,
                    "error": sync["last_error"],
                }
                for sync, pk in zip(syncs, sync_ids, strict=True)
            ],
        )

    @staticmethod
    def _large_account_events(organization_id: int, org_users: list[int], count: int, now: datetime):
        """Years of everyday work on the large account: licences given and taken, users
        edited (one of them named like a spreadsheet formula, as people type)."""
        if not count:
            return
        span = timedelta(days=LARGE_ACCOUNT_YEARS * 365)
        actions = ["licence.assigned", "licence.removed", "org_user.updated", "org_user.created"]
        _insert(
            AuditEvent,
            [
                _audit(
                    organization_id,
                    actions[number % len(actions)],
                    "licensing.OrgUser",
                    org_users[number % len(org_users)],
                    now - span + span * number / count,
                    before={"status": "inactive"},
                    after={"status": "active", "name": '=HYPERLINK("http://x")' if number == 7 else "Ada"},
                )
                for number in range(count)
            ],
        )


def _audit(organization_id, action, object_type, object_id, when, *, before=None, after=None) -> dict:
    return {
        "created_at": when,
        "actor_id": None,
        "actor_label": "unique link",
        "organization_id": organization_id,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "object_repr": "",
        "before": before,
        "after": after,
        "ip_address": None,
    }


def _payment(change: dict, *, status: str, when: datetime, receipt: str | None) -> dict:
    succeeded = status == Payment.Status.SUCCEEDED
    return {
        "organization_id": change["organization_id"],
        "subscription_id": change["subscription_id"],
        "seat_change_id": change["id"],
        "amount": change["amount_due"],
        "currency": change["currency"],
        "status": status,
        "attempts": 1,
        "attempt_started_at": when,
        "attempt_sent_at": when if succeeded else None,
        "customer_present": True,
        "stripe_customer_id": "",
        "stripe_payment_method_id": "",
        "stripe_payment_intent_id": "",
        "card_label": "Visa •••• 4242",
        "failure_code": "",
        "decline_code": "",
        "failure_message": "",
        "processor_failures": 0,
        "retry_at": None,
        "receipt_number": receipt,
        "receipt_pdf": None,
        "paid_at": when if succeeded else None,
        "stripe_refund_id": "",
        "refund_reason": "",
        "refunded_at": None,
        "created_at": when,
        "updated_at": when + timedelta(minutes=1),
    }
