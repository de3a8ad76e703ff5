"""Trigram indexes for the back office's account search.

The accounts list and the approvals queue search organizations with `icontains`
(`UPPER(col::text) LIKE UPPER('%term%')`), which no B-tree index can answer: at
10,000 organizations every search read the whole table. GIN trigram indexes on the
same expressions let PostgreSQL answer it from the index. The search is the back
office's, so its indexes are declared here; the embedded default (SQLite) has none.
"""

from django.db import migrations

COLUMNS = ("name", "slug", "billing_email")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS backoffice_org_{column}_trgm ON subscriptions_organization "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS backoffice_org_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0001_approval_digest"),
        ("subscriptions", "0005_seat_sync_pending_versions"),
    ]

    operations = [migrations.RunPython(create, drop)]
