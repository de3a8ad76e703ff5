"""A subscription's seat counts are read once per subscription, however many licences
it has: counted by a join and GROUP BY, PostgreSQL evaluated the "users without a
licence" subquery once per licence row (30 ms for a subscription of 89 licences at
10,000 organizations, on every My subscriptions, Manage licences and API list)."""

import json

import pytest
from django.db import connection

from licensing import selectors
from tests.factories import LicenceAssignmentFactory, OrgUserFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def subplan_loops(plan: dict) -> list[int]:
    """How many times each subquery of an EXPLAIN (ANALYZE, FORMAT JSON) plan ran."""
    loops = [plan["Actual Loops"]] if plan.get("Parent Relationship") == "SubPlan" else []
    for child in plan.get("Plans", []):
        loops += subplan_loops(child)
    return loops


def test_the_counts_of_a_subscription_with_many_licences_are_read_once():
    subscription = SubscriptionFactory(quantity=40)
    for _ in range(30):
        LicenceAssignmentFactory(subscription=subscription)
    OrgUserFactory.create_batch(5, organization=subscription.organization)  # Active, no licence

    queryset = selectors.subscriptions_filtered(organization=subscription.organization)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        (explained,) = cursor.fetchone()
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]

    assert subplan_loops(plan) and max(subplan_loops(plan)) == 1
    (row,) = queryset
    summary = selectors.seat_summary(row)
    assert (summary.active, summary.unlicensed, summary.available) == (30, 5, 10)
