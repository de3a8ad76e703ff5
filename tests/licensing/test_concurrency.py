"""Seat limits under concurrency, on PostgreSQL (real row locks, real connections)."""

import threading

import pytest
from django.db import connection

from licensing import services
from licensing.errors import NoLicenceAvailable
from licensing.models import LicenceAssignment
from tests.factories import LicenceAssignmentFactory, OrgUserFactory, SubscriptionFactory

THREADS = 50


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_assignments_for_five_free_seats_give_exactly_five_licences():
    subscription = SubscriptionFactory(quantity=8)
    for _ in range(3):
        LicenceAssignmentFactory(subscription=subscription)  # 5 seats left
    candidates = [OrgUserFactory(organization=subscription.organization) for _ in range(THREADS)]
    start = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def race(org_user):
        try:
            start.wait()
            services.licence_assign(subscription=subscription, org_user=org_user)
            result = "licensed"
        except NoLicenceAvailable as refused:
            result = "refused: " + refused.message
        except Exception as unexpected:
            result = f"error: {unexpected!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=race, args=(user,)) for user in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(outcomes) == THREADS
    assert outcomes.count("licensed") == 5
    refusals = [o for o in outcomes if o.startswith("refused: ")]
    assert len(refusals) == THREADS - 5, [o for o in outcomes if o.startswith("error")]
    assert all("all 8 are in use" in r for r in refusals)
    assert LicenceAssignment.objects.filter(subscription=subscription).count() == 8
