import hashlib

from django.db import models
from django.db.models import Q

from subscriptions.models import Organization, SeatChange


class AgreementImmutable(Exception):
    """Raised when code tries to change the signed PDF of a signed agreement."""


class Agreement(models.Model):
    """The change agreement of one seat change: the PDF the customer reviews, and once
    signed, the signed PDF (agreement + signature page + certificate of completion).

    Written only by `agreements.services`. A signed agreement is immutable: the
    service refuses a second signature and `save()` refuses to alter the signed PDF.
    """

    class SignatureKind(models.TextChoices):
        DRAWN = "drawn", "Drawn"
        TYPED = "typed", "Typed"

    class SignerIdentifiedBy(models.TextChoices):
        """How the signer's address was established: never typed in a form."""

        EMAILED_LINK = "emailed_link", "By a link emailed to the signer"
        SIGNED_IN = "signed_in", "Signed in to their account"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    seat_change = models.OneToOneField(SeatChange, on_delete=models.CASCADE, related_name="agreement")
    unsigned_pdf = models.BinaryField(editable=False)
    unsigned_sha256 = models.CharField(max_length=64, db_index=True, editable=False)
    signed_pdf = models.BinaryField(null=True, editable=False)
    # NULL until signed, so that uniqueness holds among signed agreements only.
    signed_sha256 = models.CharField(  # noqa: DJ001
        max_length=64, unique=True, null=True, editable=False
    )
    sent_at = models.DateTimeField()
    viewed_at = models.DateTimeField(null=True, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    signer_name = models.CharField(max_length=200, blank=True)
    signer_email = models.EmailField(blank=True)
    # Empty for the agreements signed before the method was recorded.
    signer_identified_by = models.CharField(max_length=12, choices=SignerIdentifiedBy.choices, blank=True)
    signer_ip = models.GenericIPAddressField(null=True, blank=True)
    signer_user_agent = models.CharField(max_length=500, blank=True)
    signature_kind = models.CharField(max_length=5, choices=SignatureKind.choices, blank=True)
    signature_text = models.CharField(max_length=200, blank=True)
    signature_png = models.BinaryField(null=True, editable=False)
    # When signing an increase could charge the card on file: what the signer was shown
    # and chose, at signing (`agreements.services.ChargeConsent.as_json`); {} otherwise.
    charge_consent = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ("-sent_at",)
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(signed_at__isnull=True, signed_sha256__isnull=True, signed_pdf__isnull=True)
                    | Q(
                        signed_at__isnull=False,
                        signed_sha256__isnull=False,
                        signed_pdf__isnull=False,
                    )
                ),
                name="agreement_signed_fields_together",
            ),
            models.CheckConstraint(
                condition=Q(signature_kind__in=["", "drawn", "typed"]),
                name="agreement_signature_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(signer_identified_by__in=["", "emailed_link", "signed_in"]),
                name="agreement_signer_identified_by_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Agreement {self.number}{' (signed)' if self.is_signed else ''}"

    def save(self, *args, **kwargs):
        stored = getattr(self, "_stored_signed_sha256", None)
        if stored is not None:
            pdf = self.signed_pdf
            if self.signed_sha256 != stored or (
                pdf is not None and hashlib.sha256(bytes(pdf)).hexdigest() != stored
            ):
                raise AgreementImmutable(f"Agreement {self.pk} is signed: its signed PDF cannot be changed.")
        super().save(*args, **kwargs)
        self._stored_signed_sha256 = self.signed_sha256

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # What the database holds, so that save() can tell a signed row from a new one.
        instance._stored_signed_sha256 = instance.__dict__.get("signed_sha256")
        return instance

    @property
    def number(self) -> str:
        return self.seat_change.number

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def signer_identification(self) -> str:
        return signer_identification(self.signer_identified_by, self.signer_email)


def signer_identification(identified_by: str, email: str) -> str:
    """How the signer was identified, in the words the certificate and the verification
    page use ("by a link emailed to …", "signed in as …"); "" when not recorded."""
    if identified_by == Agreement.SignerIdentifiedBy.EMAILED_LINK:
        return f"by a link emailed to {email}"
    if identified_by == Agreement.SignerIdentifiedBy.SIGNED_IN:
        return f"signed in as {email}"
    return ""
