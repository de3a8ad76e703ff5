"""The vendor's Salesforce License Management App (LMA): set `sfLma__Seats__c` on the
`sfLma__License__c` record of the subscriber org and package.

Login is the OAuth 2.0 username-password flow against the configured login URL
(https://login.salesforce.com in production); the query and the update go through
simple-salesforce on the instance URL that login returns. Both URLs must be https on a
Salesforce domain, and every request goes through the outbound guard (`outbound.py`):
a sign-in answer naming another host gets neither the access token nor a request.

The access token is kept in the shared cache (Redis in production), encrypted with the
field key, per connected org and per the credentials it was obtained with, so a push
makes two requests instead of three. It is dropped when Salesforce answers 401 (the
session expired or was revoked: sign in again, once) and after `TOKEN_CACHE_SECONDS`.
It is never logged, and a cache that cannot be reached only means signing in.
"""

import hashlib
import hmac
import json
import logging

import requests
from django.conf import settings
from django.core.cache import cache
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from ..fields import decrypt_text, encrypt_text
from . import outbound
from .base import Push, PushFailed

logger = logging.getLogger(__name__)

API_VERSION = "59.0"
LICENSE_QUERY = (
    "SELECT Id, sfLma__Seats__c FROM sfLma__License__c "
    "WHERE sfLma__Subscriber_Org_ID__c = {} AND sfLma__Package__c = {} LIMIT 2"
)
# Salesforce's shortest session timeout an org can set: Salesforce does not say when a
# password-flow token expires, and a cached one never outlives that setting by much.
TOKEN_CACHE_SECONDS = 15 * 60


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

    def _token_cache_key(self) -> str | None:
        """Per connected org and per the credentials the token comes from, so changed
        credentials sign in again; an HMAC, so the key gives none of them away."""
        org = self.org
        if org.pk is None:
            return None
        credentials = "\0".join(
            [
                org.salesforce_login_url,
                org.salesforce_username,
                org.salesforce_password,
                org.salesforce_client_id,
                org.salesforce_client_secret,
            ]
        )
        digest = hmac.new(settings.SECRET_KEY.encode(), credentials.encode(), hashlib.sha256).hexdigest()
        return f"licensing:salesforce-token:{org.pk}:{digest[:32]}"

    def _cached_token(self) -> tuple[str, str] | None:
        key = self._token_cache_key()
        if key is None:
            return None
        try:
            stored = cache.get(key)
        except Exception as error:  # the cache only saves a sign-in: any failure means signing in
            logger.warning("Salesforce token cache unavailable: %s", type(error).__name__)
            return None
        token = json.loads(decrypt_text(stored) or "null") if isinstance(stored, str) else None
        if not (isinstance(token, list) and len(token) == 2 and _is_salesforce_instance(token[0])):
            return None
        return token[0], token[1]

    def _cache_token(self, instance_url: str, access_token: str) -> None:
        key = self._token_cache_key()
        if key is None:
            return
        try:
            cache.set(key, encrypt_text(json.dumps([instance_url, access_token])), TOKEN_CACHE_SECONDS)
        except Exception as error:  # as in `_cached_token`
            logger.warning("Salesforce token cache unavailable: %s", type(error).__name__)

    def _forget_token(self) -> None:
        key = self._token_cache_key()
        try:
            if key is not None:
                cache.delete(key)
        except Exception as error:  # as in `_cached_token`: the token expires on its own
            logger.warning("Salesforce token cache unavailable: %s", type(error).__name__)

    def push(self, push: Push) -> None:
        org = self.org
        if not (org.salesforce_username and org.salesforce_subscriber_org_id and org.salesforce_package_id):
            raise PushFailed("The Salesforce connection is not fully set up.")
        with self._session() as session:
            token = self._cached_token()
            if token is not None:
                try:
                    return self._set_seats(session, *token, push)
                except SalesforceExpiredSession:
                    self._forget_token()  # expired or revoked: sign in again, once
            token = self._login(session)
            self._cache_token(*token)
            try:
                return self._set_seats(session, *token, push)
            except SalesforceExpiredSession:
                self._forget_token()
                raise PushFailed("Salesforce refused the update (401).") from None

    def _set_seats(self, session, instance_url: str, access_token: str, push: Push) -> None:
        """Find the org and package's licence record and set its seats. Raises
        `SalesforceExpiredSession` when the token is not (or no longer) accepted."""
        org = self.org
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
        except SalesforceExpiredSession:
            raise
        except outbound.Redirected as redirect:
            raise PushFailed(
                f"Salesforce answered HTTP {redirect.status}: redirects are not followed."
            ) from None
        except outbound.Refused as refused:
            raise PushFailed(f"Not sent: the Salesforce instance is refused ({refused.message}).") from None
        except SalesforceError as error:
            raise PushFailed(f"Salesforce refused the update ({error.status}).") from None
        except requests.RequestException:
            raise PushFailed("Salesforce could not be reached.") from None
