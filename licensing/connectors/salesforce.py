"""The vendor's Salesforce License Management App (LMA): set `sfLma__Seats__c` on the
`sfLma__License__c` record of the subscriber org and package.

Login is the OAuth 2.0 username-password flow against the configured login URL
(https://login.salesforce.com in production); the query and the update go through
simple-salesforce on the instance URL that login returns.
"""

import requests
from django.conf import settings
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import SalesforceError

from .base import CONNECT_TIMEOUT, READ_TIMEOUT, Push, PushFailed

API_VERSION = "59.0"
LICENSE_QUERY = (
    "SELECT Id, sfLma__Seats__c FROM sfLma__License__c "
    "WHERE sfLma__Subscriber_Org_ID__c = {} AND sfLma__Package__c = {} LIMIT 2"
)


class _TimeoutSession(requests.Session):
    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
        # Per request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a
        # session's `verify`, which would silently drop SALESFORCE_CA_BUNDLE.
        kwargs.setdefault("verify", self.verify)
        return super().request(*args, **kwargs)


class SalesforceConnector:
    def __init__(self, connected_org):
        self.org = connected_org

    def _session(self) -> requests.Session:
        session = _TimeoutSession()
        # Production verifies against the system's CAs; tests point this at the
        # certificate of their local Salesforce stand-in.
        session.verify = settings.SALESFORCE_CA_BUNDLE or True
        return session

    def _login(self, session) -> tuple[str, str]:
        org = self.org
        try:
            response = session.post(
                org.salesforce_login_url.rstrip("/") + "/services/oauth2/token",
                data={
                    "grant_type": "password",
                    "client_id": org.salesforce_client_id,
                    "client_secret": org.salesforce_client_secret,
                    "username": org.salesforce_username,
                    "password": org.salesforce_password,
                },
            )
        except requests.RequestException:
            raise PushFailed("Salesforce could not be reached to sign in.") from None
        if response.status_code in (400, 401):
            raise PushFailed("Salesforce refused the integration user's credentials.")
        if response.status_code != 200:
            raise PushFailed(f"Salesforce sign-in answered HTTP {response.status_code}.")
        token = response.json()
        return token["instance_url"], token["access_token"]

    def push(self, push: Push) -> None:
        org = self.org
        if not (org.salesforce_username and org.salesforce_subscriber_org_id and org.salesforce_package_id):
            raise PushFailed("The Salesforce connection is not fully set up.")
        session = self._session()
        instance_url, access_token = self._login(session)
        sf = Salesforce(
            instance_url=instance_url, session_id=access_token, session=session, version=API_VERSION
        )
        try:
            records = sf.query(
                format_soql(LICENSE_QUERY, org.salesforce_subscriber_org_id, org.salesforce_package_id)
            )["records"]
            if not records:
                raise PushFailed("No licence record was found for this org and package in Salesforce.")
            if len(records) > 1:
                raise PushFailed("Several licence records match this org and package in Salesforce.")
            sf.sfLma__License__c.update(records[0]["Id"], {"sfLma__Seats__c": push.seats})
        except SalesforceError as error:
            raise PushFailed(f"Salesforce refused the update ({error.status}).") from None
        except requests.RequestException:
            raise PushFailed("Salesforce could not be reached.") from None
