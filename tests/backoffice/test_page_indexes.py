"""The first page of the accounts list and of the approvals queue, and the queue's list of
staff, can be read in order from an index, whatever the number of organizations: no
sort of every organization, waiting decrease or user before a page is cut."""

import pytest
from django.db import connection
from django.utils import timezone

from backoffice import selectors
from backoffice.access import StaffScope

pytestmark = pytest.mark.django_db


def plan_of(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # The test tables are tiny: forbid reading a whole table or sorting, so that the
        # plan shows which index gives the rows in the page's order.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_accounts_list_reads_its_page_in_name_order_from_an_index(accounts):
    query = selectors.accounts_list(scope=StaffScope(accounts.manager))[:51]

    plan = plan_of(query)

    assert "backoffice_org_name_id" in plan and "Sort" not in plan, plan


def test_the_approvals_queue_reads_its_page_in_signing_order_from_an_index(accounts):
    query = selectors.approvals_queryset(scope=StaffScope(accounts.manager), now=timezone.now())[:50]

    plan = plan_of(query)

    assert "backoffice_awaiting_approval_signed" in plan and "Sort" not in plan, plan
    assert [change.pk for change in query] == [accounts.decrease.pk]


def test_the_staff_who_can_manage_accounts_are_read_from_an_index_of_staff(accounts):
    plan = plan_of(selectors.staff_who_can_manage_accounts())

    assert "backoffice_staff_by_name" in plan and "Sort" not in plan, plan
