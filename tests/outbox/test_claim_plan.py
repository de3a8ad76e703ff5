"""A claim reads one row, however many messages wait (a backlog of emails, say)."""

import pytest
from django.db import connection
from django.utils import timezone

from outbox import services
from outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db


def test_a_claim_looks_its_message_up_by_primary_key_with_thousands_open():
    now = timezone.now()
    OutboxMessage.objects.bulk_create(
        OutboxMessage(key=f"backlog:{n}", job="outbox.jobs.send_signal", kwargs={}, kind="email", due_at=now)
        for n in range(5000)
    )
    # No ANALYZE since: a backlog grows faster than autovacuum looks at the table.
    last = OutboxMessage.objects.latest("pk").pk
    when = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + services._CLAIM_SQL,
            [when(now), when(now), 1, last, 0, when(now)],
        )
        plan = cursor.fetchone()[0][0]["Plan"]

    scans = []
    nodes = [plan]
    while nodes:
        node = nodes.pop()
        scans.append((node["Node Type"], node.get("Index Name", ""), node.get("Actual Rows")))
        nodes.extend(node.get("Plans", []))
    assert ("Index Scan", "outbox_outboxmessage_pkey", 1) in scans, scans  # found, and claimed
