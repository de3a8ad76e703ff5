from django.db import migrations

# The rest of the signing's evidence, as the signature certificate and
# /agreements/verify/ show it, is unchangeable once signed too: where and with what the
# signer signed (IP address, browser), the signature itself (typed or drawn), and when
# the agreement was viewed and consent given. The trigger function of 0005 is extended;
# going back restores it. SQLite has no trigger (as in 0002).
_EVIDENCE = (
    "charge_consent",
    "signer_ip",
    "signer_user_agent",
    "signature_kind",
    "signature_text",
    "signature_png",
    "viewed_at",
    "consent_at",
)

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


def _function(columns) -> str:
    return _FUNCTION.format(
        extra="".join(f"\n        OR NEW.{column} IS DISTINCT FROM OLD.{column}" for column in columns)
    )


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_function(_EVIDENCE))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_function(_EVIDENCE[:1]))  # 0005: charge_consent only


class Migration(migrations.Migration):
    dependencies = [("agreements", "0005_charge_consent_immutable")]
    operations = [migrations.RunPython(forwards, backwards)]
