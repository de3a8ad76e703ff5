"""The back office's account search can be answered from indexes, whatever the
number of organizations (a `LIKE '%term%'` no B-tree index answers)."""

import pytest
from django.db import connection

from backoffice import selectors
from backoffice.access import StaffScope

pytestmark = pytest.mark.django_db


def test_the_accounts_search_uses_the_trigram_indexes(accounts):
    query = selectors.accounts_list(scope=StaffScope(accounts.manager), search="acme")
    sql, params = query.query.sql_with_params()

    with connection.cursor() as cursor:
        # The test tables are tiny: forbid reading a whole table (or a whole index) to
        # see which indexes fit the search.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    for column in ("name", "slug", "billing_email"):
        assert f"backoffice_org_{column}_trgm" in plan, plan
    assert [organization.name for organization in query] == ["Acme Secret-A Ltd"]
