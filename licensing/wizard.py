"""The setup wizard of a new organization (OpenCRM's "Setup Wizard")."""

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from subscriptions.models import Organization

from .models import OrgUser, SetupWizard


def wizard_open_for_new_organization(*, organization: Organization) -> SetupWizard | None:
    """Open the wizard for an organization that has nobody in it yet (its first
    subscription was just activated). Never reopens a finished one."""
    if OrgUser.objects.filter(organization=organization).exists():
        return None
    wizard, _ = SetupWizard.objects.get_or_create(organization=organization)
    return wizard


def wizard_pending(*, organization: Organization) -> SetupWizard | None:
    return SetupWizard.objects.filter(organization=organization, finished_at__isnull=True).first()


def wizard_go_to(*, wizard: SetupWizard, step: str) -> SetupWizard:
    """Remember where the admin is, so leaving and coming back resumes there."""
    if step not in SetupWizard.Step.values:
        raise ValueError(step)
    SetupWizard.objects.filter(pk=wizard.pk, finished_at__isnull=True).update(step=step)
    wizard.step = step
    return wizard


def wizard_finish(*, wizard: SetupWizard, actor=None, request=None) -> None:
    """Done: the wizard is never shown again (finishing twice is harmless)."""
    with transaction.atomic():
        updated = SetupWizard.objects.filter(pk=wizard.pk, finished_at__isnull=True).update(
            finished_at=timezone.now()
        )
        if updated:
            audit_record(
                action="setup_wizard.finished",
                organization=wizard.organization,
                actor=actor,
                obj=wizard.organization,
                request=request,
            )
