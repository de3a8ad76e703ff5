from django.db import migrations

# Once an agreement is signed, what was signed and the evidence of the signing can no
# longer change, whatever code (or SQL) tries: the model refuses it too.
CREATE = """
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
        OR NEW.seat_change_id IS DISTINCT FROM OLD.seat_change_id
        OR NEW.organization_id IS DISTINCT FROM OLD.organization_id
    ) THEN
        RAISE EXCEPTION USING MESSAGE = 'agreement ' || OLD.id || ' is signed: it cannot be changed';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER agreement_signed_immutable
    BEFORE UPDATE ON agreements_agreement
    FOR EACH ROW EXECUTE FUNCTION agreement_signed_immutable();
"""

DROP = """
DROP TRIGGER IF EXISTS agreement_signed_immutable ON agreements_agreement;
DROP FUNCTION IF EXISTS agreement_signed_immutable();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("agreements", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
