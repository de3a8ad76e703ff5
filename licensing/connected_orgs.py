"""Connected-org settings, as staff edit them: which connector pushes an
organization's seat counts, and its URL or credentials.

Secrets are write-only: a webhook signing secret is generated here (never typed) and
shown once to the member of staff, who hands it to the customer; Salesforce password
and client secret are kept when left empty, unless the login URL or the user changes
(else a new login URL would receive the stored secrets). The audit event names what changed and
never holds a secret. A push in flight reads the settings at its next attempt, so a
fix here also lets waiting pushes land.
"""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from audit.services import audit_record
from subscriptions.errors import InvalidInput
from subscriptions.models import Organization

from .connectors import outbound, webhook
from .models import ConnectedOrg

SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
# The form of a URL; the outbound guard then decides where seatmgr may send (https,
# public addresses; http only to this machine when loopback is allowed for development).
_url_format = URLValidator(schemes=["http", "https"])

PLAIN_FIELDS = (
    "kind",
    "webhook_url",
    "salesforce_login_url",
    "salesforce_username",
    "salesforce_client_id",
    "salesforce_subscriber_org_id",
    "salesforce_package_id",
)
SECRET_FIELDS = ("webhook_secret", "salesforce_password", "salesforce_client_secret")


@dataclass(frozen=True)
class ConnectedOrgInput:
    kind: str
    webhook_url: str = ""
    new_webhook_secret: bool = False
    salesforce_login_url: str = ""
    salesforce_username: str = ""
    salesforce_password: str = ""  # empty: keep the stored one
    salesforce_client_id: str = ""
    salesforce_client_secret: str = ""  # empty: keep the stored one
    salesforce_subscriber_org_id: str = ""
    salesforce_package_id: str = ""


@dataclass(frozen=True)
class ConnectedOrgSaved:
    connected_org: ConnectedOrg
    changed: list[str]
    new_webhook_secret: str = ""  # shown once, when one was generated


def connected_org_save(
    *, organization: Organization, data: ConnectedOrgInput, actor=None, request=None
) -> ConnectedOrgSaved:
    """Validate and store the organization's connector settings (InvalidInput naming
    the field, nothing stored, when something is wrong)."""
    with transaction.atomic():
        connected_org = ConnectedOrg.objects.select_for_update().filter(
            organization=organization
        ).first() or ConnectedOrg(organization=organization)
        before = _values(connected_org)
        new_secret = _apply(connected_org, data)
        after = _values(connected_org)
        changed = [name for name in after if before[name] != after[name]]
        if not changed and connected_org.pk:
            return ConnectedOrgSaved(connected_org, [])
        connected_org.save()
        audit_record(
            action="connected_org.updated",
            organization=organization,
            actor=actor,
            obj=connected_org,
            before={name: _shown(name, before[name]) for name in changed},
            after={name: _shown(name, after[name], changed=True) for name in changed},
            request=request,
        )
    return ConnectedOrgSaved(connected_org, changed, new_secret)


def _apply(connected_org: ConnectedOrg, data: ConnectedOrgInput) -> str:
    """Set `data` on `connected_org`, checking what the chosen connector needs.
    Returns a newly generated webhook secret, or ""."""
    if data.kind not in ConnectedOrg.Kind.values:
        raise InvalidInput("Choose a connector.", field="kind")
    connected_org.kind = data.kind
    new_secret = ""
    if data.kind == ConnectedOrg.Kind.WEBHOOK:
        connected_org.webhook_url = _url(data.webhook_url, field="webhook_url", guard=outbound.check_url)
        if data.new_webhook_secret or not connected_org.webhook_secret:
            new_secret = connected_org.webhook_secret = webhook.new_secret()
    elif data.kind == ConnectedOrg.Kind.SALESFORCE:
        signs_in_as = (connected_org.salesforce_login_url, connected_org.salesforce_username)
        connected_org.salesforce_login_url = _url(
            data.salesforce_login_url,
            field="salesforce_login_url",
            guard=_salesforce_guard,
        )
        connected_org.salesforce_username = _required(
            data.salesforce_username, field="salesforce_username", what="the integration user's username"
        )
        if (connected_org.salesforce_login_url, connected_org.salesforce_username) != signs_in_as:
            # The stored secrets would be sent to the new place, or for another user:
            # whoever changes where we sign in types them again.
            connected_org.salesforce_password = connected_org.salesforce_client_secret = ""
        connected_org.salesforce_client_id = _required(
            data.salesforce_client_id, field="salesforce_client_id", what="the connected app's consumer key"
        )
        for name, what in (
            ("salesforce_password", "the integration user's password"),
            ("salesforce_client_secret", "the connected app's consumer secret"),
        ):
            typed = getattr(data, name)
            if typed:
                setattr(connected_org, name, typed)
            elif not getattr(connected_org, name):
                raise InvalidInput(f"Enter {what}.", field=name)
        for name, what in (
            ("salesforce_subscriber_org_id", "subscriber org id"),
            ("salesforce_package_id", "package id"),
        ):
            value = getattr(data, name).strip()
            if not SALESFORCE_ID.match(value):
                raise InvalidInput(f"Enter the {what}: 15 or 18 letters and digits.", field=name)
            setattr(connected_org, name, value)
    return new_secret


def _url(raw: str, *, field: str, guard) -> str:
    """A well-formed URL that the outbound guard (`guard`) lets seatmgr send to."""
    url = (raw or "").strip()
    try:
        _url_format(url)
    except ValidationError:
        raise InvalidInput("Enter a full URL starting with https://.", field=field) from None
    try:
        guard(url)
    except outbound.Refused as refused:
        raise InvalidInput(
            f"This address is not allowed: {refused.message}. Seat counts go only to public https addresses.",
            field=field,
        ) from None
    return url


def _salesforce_guard(url: str) -> None:
    """https on a Salesforce domain (login.salesforce.com, a My Domain…), and public."""
    outbound.check_salesforce_url(url)
    outbound.check_url(url)


def _required(raw: str, *, field: str, what: str) -> str:
    value = (raw or "").strip()
    if not value:
        raise InvalidInput(f"Enter {what}.", field=field)
    return value


def _values(connected_org: ConnectedOrg) -> dict[str, str]:
    return {name: getattr(connected_org, name) for name in PLAIN_FIELDS + SECRET_FIELDS}


def _shown(name: str, value: str, *, changed: bool = False) -> str:
    """What the audit log may show: plain settings as they are, never a secret."""
    if name not in SECRET_FIELDS:
        return value
    if not value:
        return "not set"
    return "new secret" if changed else "set"
