"""Email verification became mandatory; this keeps the accounts the vendor created
able to sign in.

An account with no allauth EmailAddress at all never used `/accounts/email/`: its
login address is the one the vendor gave it (an account manager's new account, the
demo data, the Django admin), so it is marked verified, as new accounts are. Accounts
that did touch their addresses keep them as they are: one of those may be an address
typed in by someone who does not own it, and a password sign-in asks them to confirm
it (the confirmation goes to that address). An address already verified by another
account is left alone.
"""

from django.db import migrations


def verify_untouched_login_addresses(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    taken = set(EmailAddress.objects.filter(verified=True).values_list("email", flat=True))
    rows = []
    for user in User.objects.exclude(email="").filter(emailaddress__isnull=True).iterator():
        email = user.email.lower()
        if email in taken:
            continue
        taken.add(email)
        rows.append(EmailAddress(user=user, email=email, verified=True, primary=True))
    EmailAddress.objects.bulk_create(rows, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(verify_untouched_login_addresses, migrations.RunPython.noop)]
