"""`manage.py seed_scale`: a vendor's size of data, seeded once per size."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count, F, Max
from django.test import Client
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from backoffice.management.commands.seed_scale import LARGE_ACCOUNT_CHANGES
from billing.models import Payment
from licensing.models import LicenceAssignment, OrgUser, SeatSyncAttempt
from subscriptions.models import Membership, Organization, SeatChange, SeatSync, Subscription

pytestmark = pytest.mark.django_db

MODELS = [
    User,
    Organization,
    Membership,
    Subscription,
    OrgUser,
    LicenceAssignment,
    SeatChange,
    SeatSync,
    SeatSyncAttempt,
    Payment,
    AuditEvent,
]


def seed(orgs: int) -> dict[str, int]:
    call_command("seed_scale", orgs=orgs, users_per_org=6, history_events=40, chunk=2, stdout=io.StringIO())
    return {model.__name__: model.objects.count() for model in MODELS}


def test_a_second_run_of_the_same_size_adds_nothing_and_a_larger_one_adds_only_the_new_organizations():
    first = seed(3)
    assert first["Organization"] == 3
    assert first["OrgUser"] == 3 * 6
    assert Membership.objects.filter(role=Membership.Role.ADMIN).count() == 3

    assert seed(3) == first

    larger = seed(5)
    assert larger["Organization"] == 5
    assert larger["OrgUser"] == 5 * 6
    assert list(Organization.objects.order_by("slug").values_list("slug", flat=True)) == [
        f"scale-{index:05d}" for index in range(5)
    ]


def test_the_seeded_data_keeps_the_apps_rules():
    seed(6)
    for subscription in Subscription.objects.annotate(
        licences=Count("licence_assignments", distinct=True), last_push=Max("seat_syncs__version")
    ):
        assert subscription.licences <= subscription.quantity
        assert subscription.last_push == subscription.seats_version
        assert subscription.current_period_start <= subscription.current_period_end
    assert not LicenceAssignment.objects.exclude(org_user__status__in=OrgUser.LICENSED_STATUSES).exists()
    # Every increase that was applied was paid, once, with a receipt.
    increases = SeatChange.objects.filter(state=SeatChange.State.APPLIED, new_quantity__gt=F("old_quantity"))
    assert increases.count() == Payment.objects.filter(status=Payment.Status.SUCCEEDED).count()
    assert not Payment.objects.filter(status=Payment.Status.SUCCEEDED, receipt_number=None).exists()
    # The seat chart reads quantity changes from the audit log: one per applied change.
    assert (
        AuditEvent.objects.filter(action="subscription.quantity_changed").count()
        == SeatChange.objects.filter(state__in=[SeatChange.State.APPLIED, SeatChange.State.APPLYING]).count()
    )


def test_the_large_account_has_years_of_history_and_its_back_office_page_shows_it():
    seed(2)
    large = Organization.objects.get(slug="scale-00000")
    assert SeatChange.objects.filter(organization=large).count() >= LARGE_ACCOUNT_CHANGES
    first_event = AuditEvent.objects.filter(organization=large).order_by("created_at").first()
    assert timezone.now() - first_event.created_at >= timedelta(days=5 * 365)
    assert AuditEvent.objects.filter(organization=large, action="licence.assigned").exists()

    manager = User.objects.get(email="manager@scale.example")
    client = Client()
    client.force_login(manager)
    response = client.get(f"/backoffice/accounts/{large.pk}/")
    assert response.status_code == 200
    assert "Scale Customer 00000" in response.content.decode()
