"""The vendor's Salesforce License Management App (LMA): set `sfLma__Seats__c` on the
`sfLma__License__c` record of the subscriber org and package.

Login is the OAuth 2.0 username-password flow against the configured login URL
(https://login.salesforce.com in production); the query and the update go through
simple-salesforce on the instance URL that login returns. Both URLs must be https on a
Salesforce domain, and every request goes through the outbound guard (`outbound.py`):
a sign-in answer naming another host gets neither the access token nor a request.
"""

import requests
from django.conf import settings
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import SalesforceError

from . import outbound
from .base import Push, PushFailed

API_VERSION = "59.0"
LICENSE_QUERY = (
    "SELECT Id, sfLma__Seats__c FROM sfLma__License__c "
    "WHERE sfLma__Subscriber_Org_ID__c = {} AND sfLma__Package__c = {} LIMIT 2"
)


def _is_salesforce_instance(url) -> bool:
    if not isinstance(url, str):
        return False
    try:
        outbound.check_salesforce_url(url)
    except outbound.Refused:
        return False
    return True


class SalesforceConnector:
    def __init__(self, connected_org):
        self.org = connected_org

    def _session(self) -> requests.Session:
        session = outbound.session()
        # Production verifies against the system's CAs; tests point this at the
        # certificate of their local Salesforce stand-in.
        session.verify = settings.SALESFORCE_CA_BUNDLE or True
        return session

    def _login(self, session) -> tuple[str, str]:
        org = self.org
        try:
            outbound.check_salesforce_url(org.salesforce_login_url)
        except outbound.Refused as refused:
            raise PushFailed(f"Not sent: the Salesforce login URL is refused ({refused.message}).") from None
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
        except outbound.Redirected as redirect:
            raise PushFailed(
                f"Salesforce sign-in answered HTTP {redirect.status}: redirects are not followed."
            ) from None
        except outbound.Refused as refused:
            raise PushFailed(f"Not sent: the Salesforce login URL is refused ({refused.message}).") from None
        except requests.RequestException:
            raise PushFailed("Salesforce could not be reached to sign in.") from None
        if response.status_code in (400, 401):
            raise PushFailed("Salesforce refused the integration user's credentials.")
        if response.status_code != 200:
            raise PushFailed(f"Salesforce sign-in answered HTTP {response.status_code}.")
        try:
            token = response.json()
        except ValueError:
            token = None
        if not isinstance(token, dict):
            token = {}
        instance_url, access_token = token.get("instance_url"), token.get("access_token")
        if not (isinstance(access_token, str) and _is_salesforce_instance(instance_url)):
            # Whatever answered is not Salesforce, or not one to trust with the token.
            raise PushFailed("Not sent: Salesforce's sign-in answer names no Salesforce instance.")
        return instance_url, access_token

    def push(self, push: Push) -> None:
        org = self.org
        if not (org.salesforce_username and org.salesforce_subscriber_org_id and org.salesforce_package_id):
            raise PushFailed("The Salesforce connection is not fully set up.")
        with self._session() as session:
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
            except outbound.Redirected as redirect:
                raise PushFailed(
                    f"Salesforce answered HTTP {redirect.status}: redirects are not followed."
                ) from None
            except outbound.Refused as refused:
                raise PushFailed(
                    f"Not sent: the Salesforce instance is refused ({refused.message})."
                ) from None
            except SalesforceError as error:
                raise PushFailed(f"Salesforce refused the update ({error.status}).") from None
            except requests.RequestException:
                raise PushFailed("Salesforce could not be reached.") from None
