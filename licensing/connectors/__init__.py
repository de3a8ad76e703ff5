"""Connectors: the one place that talks to customers' connected orgs.

Each connector takes a `Push` and either returns (the org took the count) or raises
`PushFailed` with a message for people and whether trying again may help. Which
connector serves an organization is its `ConnectedOrg.kind`.
"""

from ..models import ConnectedOrg
from .base import Push, PushFailed
from .builtin import BuiltInConnector
from .salesforce import SalesforceConnector
from .webhook import WebhookConnector

CONNECTORS = {
    ConnectedOrg.Kind.BUILT_IN: BuiltInConnector,
    ConnectedOrg.Kind.WEBHOOK: WebhookConnector,
    ConnectedOrg.Kind.SALESFORCE: SalesforceConnector,
}


def connector_for(connected_org: ConnectedOrg):
    return CONNECTORS[connected_org.kind](connected_org)


__all__ = ["CONNECTORS", "Push", "PushFailed", "connector_for"]
