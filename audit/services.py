from typing import Any

from django.db import models

from accounts.client_ip import client_ip

from .models import AuditEvent


def audit_record(
    *,
    action: str,
    organization=None,
    organization_id: int | None = None,
    actor=None,
    actor_label: str = "",
    obj: models.Model | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request=None,
) -> AuditEvent:
    """Append one audit event. Call inside the transaction of the change it records,
    so the event exists exactly when the change does. The tenant is `organization`, or
    its id (`organization_id`) where the caller has no instance at hand."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEvent.objects.create(
        action=action,
        organization=organization,
        **({"organization_id": organization_id} if organization is None and organization_id else {}),
        actor=actor,
        actor_label=actor_label[:200],
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:300] if obj is not None else "",
        before=before,
        after=after,
        ip_address=client_ip(request),
    )
