from django.db import migrations

# What the signer of an increase was offered and chose for paying it (`charge_consent`,
# 0004) is evidence of the signing too: once signed, the trigger of 0002 refuses to
# change it. The function of 0003 is restored on the way back. SQLite has no trigger
# (as in 0002): there the model and the services are the guard.
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
        OR NEW.signer_email IS DISTINCT FROM OLD.signer_email
        OR NEW.signer_identified_by IS DISTINCT FROM OLD.signer_identified_by{extra}
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
            _FUNCTION.format(extra="\n        OR NEW.charge_consent IS DISTINCT FROM OLD.charge_consent")
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_FUNCTION.format(extra=""))


class Migration(migrations.Migration):
    dependencies = [("agreements", "0004_charge_consent")]
    operations = [migrations.RunPython(forwards, backwards)]
