from django.db import migrations, models

# How the signer was identified is evidence of the signing: once signed, the trigger of
# 0002 refuses to change it too. The old function is restored on the way back.
_FUNCTION = """
CREATE OR REPLACE FUNCTION agreement_signed_immutable() RETURNS trigger AS $$
BEGIN
    IF OLD.signed_sha256 IS NOT NULL AND (
        NEW.signed_pdf IS DISTINCT FROM OLD.signed_pdf
        OR NEW.signed_sha256 IS DISTINCT FROM OLD.signed_sha256
        OR NEW.signed_at IS DISTINCT FROM OLD.signed_at
        OR NEW.unsigned_pdf IS DISTINCT FROM OLD.unsigned_pdf
        OR NEW.unsigned_sha256 IS DISTINCT FROM OLD.unsigned_sha256
        OR NEW.signer_name IS DISTINCT FROM OLD.signer_name
        OR NEW.signer_email IS DISTINCT FROM OLD.signer_email{extra}
        OR NEW.seat_change_id IS DISTINCT FROM OLD.seat_change_id
        OR NEW.organization_id IS DISTINCT FROM OLD.organization_id
    ) THEN
        RAISE EXCEPTION USING MESSAGE = 'agreement ' || OLD.id || ' is signed: it cannot be changed';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            _FUNCTION.format(extra="\n        OR NEW.signer_identified_by IS DISTINCT FROM OLD.signer_identified_by")
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_FUNCTION.format(extra=""))


class Migration(migrations.Migration):
    dependencies = [
        ("agreements", "0002_signed_agreement_immutable"),
        ("subscriptions", "0005_seat_sync_pending_versions"),
    ]

    operations = [
        migrations.AddField(
            model_name="agreement",
            name="signer_identified_by",
            field=models.CharField(
                blank=True,
                choices=[
                    ("emailed_link", "By a link emailed to the signer"),
                    ("signed_in", "Signed in to their account"),
                ],
                max_length=12,
            ),
        ),
        migrations.AddConstraint(
            model_name="agreement",
            constraint=models.CheckConstraint(
                condition=models.Q(("signer_identified_by__in", ["", "emailed_link", "signed_in"])),
                name="agreement_signer_identified_by_valid",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
