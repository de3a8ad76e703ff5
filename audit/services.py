from typing import Any

from django.db import models

from accounts.client_ip import client_ip

from .models import AuditEvent


def audit_record(
    *,
    action: str,
    organization=None,
    actor=None,
    actor_label: str = "",
    obj: models.Model | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request=None,
) -> AuditEvent:
    """Append one audit event. Call inside the transaction of the change it records,
    so the event exists exactly when the change does."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEvent.objects.create(
        action=action,
        organization=organization,
        actor=actor,
        actor_label=actor_label[:200],
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:300] if obj is not None else "",
        before=before,
        after=after,
        ip_address=client_ip(request),
    )
