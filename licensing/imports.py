"""Importing org users from a CSV file: name, email, status, products.

A file is first *planned*: every row says what will happen (create, update,
unchanged) or what is wrong with it, by line number, and the licences it needs are
checked against the seats available. Nothing is written until the admin confirms;
then the plan is made again against the data as it is at that moment, under the
subscriptions' row locks, and applied in one transaction. Importing the same file
again changes nothing. Licences are only added by an import (a licence a user holds
is never taken away because the file doesn't list it), except that a user moved to
a status that cannot hold a licence frees theirs, as everywhere.
"""

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from subscriptions import hot_cache
from subscriptions.errors import InvalidInput
from subscriptions.models import Organization, Subscription
from subscriptions.words import counted

from .emails import normalise_email
from .models import LicenceAssignment, OrgUser, UserImport
from .selectors import scheduled_decrease

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
COLUMNS = ("name", "email", "status", "products")
STATUS_BY_WORD = {
    **{value: value for value in OrgUser.Status.values},
    **{label.lower(): value for value, label in OrgUser.Status.choices},
}


@dataclass
class RowPlan:
    line: int
    name: str
    email: str
    status: str
    products: tuple[str, ...]
    action: str = "error"  # create | update | unchanged | error
    changes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SeatIncrease:
    """The file gives out more licences of a product than its subscription has seats:
    with `new_total` seats, it would fit."""

    subscription_id: int
    product: str
    new_total: int


@dataclass
class ImportPlan:
    rows: list[RowPlan] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # about the whole file
    seat_increases: list[SeatIncrease] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not any(row.errors for row in self.rows)

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(row.action for row in self.rows)
        return {action: counts.get(action, 0) for action in ("create", "update", "unchanged", "error")}

    @property
    def rows_with_errors(self) -> list[RowPlan]:
        return [row for row in self.rows if row.errors]


def decode(raw: bytes) -> str:
    """The uploaded bytes as text, or a message the admin can act on."""
    if not raw.strip():
        raise InvalidInput("The file is empty.", field="file")
    if len(raw) > MAX_BYTES:
        raise InvalidInput("The file is larger than 5 MB: split it and import each part.", field="file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "The file is not UTF-8 text. In your spreadsheet choose “CSV UTF-8” when saving, "
            "then upload it again.",
            field="file",
        ) from None


def _live_subscriptions(organization: Organization, *, lock: bool) -> dict[str, Subscription]:
    queryset = (
        Subscription.objects.filter(
            organization=organization, status__in=(Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE)
        )
        .select_related("plan__product")
        .annotate(
            scheduled_maximum=scheduled_decrease("new_quantity"),
            scheduled_on=scheduled_decrease("effective_at"),
        )
    )
    if lock:
        queryset = queryset.select_for_update(of=("self",)).order_by("pk")
    return {subscription.plan.product.code: subscription for subscription in queryset}


DELIMITERS = (",", ";", "\t")


def _reader(text: str):
    """A CSV reader for `text` with the delimiter the file uses. Spreadsheets save CSV
    with a comma, or with a semicolon where the comma is the decimal sign (a European
    Excel), or tabs; Excel may also open the file with a `sep=;` line and a byte-order
    mark (stripped by `decode`, and here too for text that did not come through it).
    The header line names known columns, so the delimiter that splits it into the most
    of them is the one; a tie (a one-column header) keeps the comma."""
    text = text.removeprefix("\ufeff")
    first = text.partition("\n")[0]
    declared = first.strip()
    if declared.lower().startswith("sep=") and len(declared) == 5:
        reader = csv.reader(io.StringIO(text), delimiter=declared[4])
        next(reader)  # the `sep=` line itself; line numbers still count it
        return reader

    def known_columns(delimiter: str) -> int:
        return sum(1 for column in first.split(delimiter) if column.strip().strip('"').lower() in COLUMNS)

    delimiter = max(DELIMITERS, key=known_columns)
    return csv.reader(io.StringIO(text), delimiter=delimiter)


def plan_import(*, organization: Organization, text: str, lock: bool = False) -> ImportPlan:
    """What importing `text` would do. With `lock`, the subscriptions' rows are locked
    (inside the caller's transaction) so the licence counts cannot move underneath."""
    plan = ImportPlan()
    reader = _reader(text)
    try:
        header = [column.strip().lower() for column in next(reader)]
    except StopIteration:
        plan.problems.append("The file is empty.")
        return plan
    except csv.Error as error:
        plan.problems.append(f"Line 1 is not valid CSV: {error}.")
        return plan
    missing = [column for column in COLUMNS[:3] if column not in header]
    if missing:
        plan.problems.append(
            "The first line must name the columns: name, email, status, products, separated "
            f"by commas, semicolons or tabs (missing: {', '.join(missing)})."
        )
        return plan
    index = {column: header.index(column) for column in COLUMNS if column in header}
    subscriptions = _live_subscriptions(organization, lock=lock)
    existing = {
        user.email: user
        for user in OrgUser.objects.filter(organization=organization).prefetch_related("licences")
    }
    held = {
        user.email: {
            code
            for code, sub in subscriptions.items()
            if any(a.subscription_id == sub.pk for a in user.licences.all())
        }
        for user in existing.values()
    }
    first_line: dict[str, int] = {}
    try:
        for line, values in enumerate(reader, start=reader.line_num + 1):
            if not any(value.strip() for value in values):
                continue
            if len(plan.rows) >= MAX_ROWS:
                plan.problems.append(f"The file has more than {MAX_ROWS:,} users: split it.")
                break
            plan.rows.append(_plan_row(line, values, index, subscriptions, existing, held, first_line))
    except csv.Error as error:
        plan.problems.append(f"Line {reader.line_num} is not valid CSV: {error}.")
    if not plan.rows and not plan.problems:
        plan.problems.append("The file has a header line but no users.")
    _licence_shortfalls(plan, subscriptions, held)
    return plan


def _plan_row(line, values, index, subscriptions, existing, held, first_line) -> RowPlan:
    def cell(column: str) -> str:
        position = index.get(column)
        return values[position].strip() if position is not None and position < len(values) else ""

    raw_products = cell("products")
    products = tuple(
        dict.fromkeys(
            p.strip().lower()
            for p in raw_products.replace(",", ";").replace("|", ";").split(";")
            if p.strip()
        )
    )
    email = normalise_email(cell("email"))
    row = RowPlan(
        line=line,
        name=cell("name"),
        email=email or cell("email").lower(),
        status=cell("status"),
        products=products,
    )
    if not row.name:
        row.errors.append("The name is empty.")
    elif len(row.name) > 200:
        row.errors.append("The name is longer than 200 characters.")
    if email is None:
        row.errors.append(f"“{cell('email')}” is not a valid email address.")
    status = STATUS_BY_WORD.get(row.status.lower())
    if status is None:
        allowed = ", ".join(label for _, label in OrgUser.Status.choices)
        row.errors.append(f"Unknown status “{row.status}”: use one of {allowed}.")
    else:
        row.status = status
    for code in products:
        if code not in subscriptions:
            row.errors.append(
                f"Unknown product “{code}”: your products are {', '.join(sorted(subscriptions)) or 'none'}."
            )
    if products and status and status not in OrgUser.LICENSED_STATUSES:
        row.errors.append(
            f"{OrgUser.Status(status).label} users cannot hold a licence: leave products empty."
        )
    if row.email in first_line:
        row.errors.append(f"The same email as line {first_line[row.email]}.")
    else:
        first_line[row.email] = line
    if row.errors:
        return row
    current = existing.get(row.email)
    if current is None:
        row.action = "create"
        row.changes = [f"new {OrgUser.Status(row.status).label} user"] + [
            f"gets a {p} licence" for p in products
        ]
        return row
    if current.name != row.name:
        row.changes.append(f"name “{current.name}” → “{row.name}”")
    if current.status != row.status:
        row.changes.append(f"status {current.get_status_display()} → {OrgUser.Status(row.status).label}")
        if row.status not in OrgUser.LICENSED_STATUSES and held[row.email]:
            row.changes.append("frees " + ", ".join(sorted(held[row.email])) + " licence(s)")
        if row.status in OrgUser.LICENSED_STATUSES and not current.can_hold_licence and not products:
            row.changes.append("gets no licence: list the products in the file to give them")
    row.changes += [f"gets a {p} licence" for p in products if p not in held[row.email]]
    row.action = "update" if row.changes else "unchanged"
    return row


def _licence_shortfalls(plan: ImportPlan, subscriptions, held) -> None:
    """Add a problem (and the seat increase that would fix it) for each product the
    file gives out more licences of than its subscription has seats."""
    if not plan.ok and plan.problems:
        return
    delta = Counter()
    for row in plan.rows:
        if row.errors:
            continue
        current = held.get(row.email, set())
        if row.status not in OrgUser.LICENSED_STATUSES:
            for code in current:
                delta[code] -= 1
            continue
        for code in row.products:
            if code not in current:
                delta[code] += 1
    for code, change in sorted(delta.items()):
        subscription = subscriptions[code]
        in_use = sum(1 for email in held if code in held[email])
        scheduled, when = subscription.scheduled_maximum, subscription.scheduled_on
        if scheduled is not None and in_use + change > min(scheduled, subscription.quantity):
            # No increase while a decrease waits for the period end (one open change).
            needed = in_use + change - min(scheduled, subscription.quantity)
            product = subscription.plan.product.name
            plan.problems.append(
                f"{product}: this file gives out {counted(in_use + change, 'licence')}, but the "
                f"decrease to {counted(scheduled, 'user')} on {when.day} {when:%B %Y} leaves "
                f"{scheduled}. Remove {needed} "
                f"{product} licence{'s' if needed != 1 else ''} from the file, or withdraw the decrease."
            )
        elif in_use + change > subscription.quantity:
            needed = in_use + change - subscription.quantity
            product = subscription.plan.product.name
            plan.problems.append(
                f"{product}: this file gives out {counted(in_use + change, 'licence')} but you "
                f"have {counted(subscription.quantity, 'seat')}. Remove {needed} {product} "
                f"licence{'s' if needed != 1 else ''} from the file, or increase your seats to "
                f"{in_use + change}."
            )
            plan.seat_increases.append(SeatIncrease(subscription.pk, product, in_use + change))


def user_import_create(*, organization: Organization, filename: str, raw: bytes, actor=None) -> UserImport:
    """Keep an uploaded file for preview. Refuses files that are not text at all."""
    return UserImport.objects.create(
        organization=organization,
        filename=(filename or "users.csv")[:255],
        content=decode(raw),
        created_by=actor,
    )


def user_import_apply(*, user_import: UserImport, actor=None, request=None) -> dict[str, int]:
    """Apply a previewed import, once: confirming twice returns the first result.

    One transaction under the subscriptions' row locks; the plan is made again
    against the current data, and nothing is written if it no longer applies.
    """
    with transaction.atomic():
        user_import = UserImport.objects.select_for_update().get(pk=user_import.pk)
        if user_import.applied_at is not None:
            return user_import.summary
        organization = user_import.organization
        plan = plan_import(organization=organization, text=user_import.content, lock=True)
        if not plan.ok:
            first = (plan.problems or [f"Line {r.line}: {r.errors[0]}" for r in plan.rows_with_errors])[0]
            raise InvalidInput(f"The file can't be imported as it is: {first}")
        subscriptions = _live_subscriptions(organization, lock=False)
        existing = {user.email: user for user in OrgUser.objects.filter(organization=organization)}
        created = OrgUser.objects.bulk_create(
            [
                OrgUser(organization=organization, name=row.name, email=row.email, status=row.status)
                for row in plan.rows
                if row.action == "create"
            ]
        )
        by_email = {**existing, **{user.email: user for user in created}}
        held_by_user = defaultdict(list)
        for org_user_id, subscription_id in (
            LicenceAssignment.objects.filter(organization=organization)
            .order_by("subscription_id")
            .values_list("org_user_id", "subscription_id")
        ):
            held_by_user[org_user_id].append(subscription_id)
        updated = []
        for row in plan.rows:
            if row.action == "update":
                user = existing[row.email]
                if user.can_hold_licence and row.status not in OrgUser.LICENSED_STATUSES:
                    # As a status change on the page: remember what they held.
                    user.licences_held_before = held_by_user[user.pk]
                user.name, user.status = row.name, row.status
                updated.append(user)
        OrgUser.objects.bulk_update(updated, ["name", "status", "licences_held_before"], batch_size=1000)
        unlicensed = [u.pk for u in updated if u.status not in OrgUser.LICENSED_STATUSES]
        LicenceAssignment.objects.filter(org_user_id__in=unlicensed).delete()
        held = set(
            LicenceAssignment.objects.filter(organization=organization).values_list(
                "org_user_id", "subscription_id"
            )
        )
        LicenceAssignment.objects.bulk_create(
            [
                LicenceAssignment(
                    organization=organization, subscription=subscriptions[code], org_user=by_email[row.email]
                )
                for row in plan.rows
                if row.action in ("create", "update")
                for code in row.products
                if (by_email[row.email].pk, subscriptions[code].pk) not in held
            ]
        )
        summary = plan.counts
        user_import.applied_at = timezone.now()
        user_import.summary = summary
        user_import.save(update_fields=["applied_at", "summary"])
        audit_record(
            action="org_users.imported",
            organization=organization,
            actor=actor,
            obj=user_import,
            after=summary,
            request=request,
        )
        # Bulk writes send no signals: tell the licence check's cache ourselves.
        hot_cache.invalidate_on_commit(organization.pk)
    return summary
