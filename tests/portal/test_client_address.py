"""Behind the TLS proxy, the signature certificate and the audit log record the
client's address, not the proxy's, and a forged X-Forwarded-For entry changes nothing."""

import pytest

from agreements.models import Agreement
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

FORGED_THEN_REAL = "6.6.6.6, 198.51.100.20"  # the client wrote the first, the proxy the second


def test_signing_records_the_client_behind_the_proxy(client, activated, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    headers = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": FORGED_THEN_REAL}
    change_page = client.get(activated.change, follow=True, **headers)
    seat_change_page = client.post(
        change_page.request["PATH_INFO"], {"new_total": "2"}, follow=True, **headers
    )

    client.post(
        seat_change_page.request["PATH_INFO"] + "sign/",
        {
            "signer_name": "Ada Admin",
            "signer_email": "ada@acme.example",
            "consent": "yes",
            "accept_terms": "yes",
            "signature_kind": "typed",
            "signature_text": "Ada Admin",
        },
        **headers,
    )

    agreement = Agreement.objects.get()
    assert agreement.signed_at is not None
    assert agreement.signer_ip == "198.51.100.20"
    signed = AuditEvent.objects.get(action="agreement.signed")
    assert signed.ip_address == "198.51.100.20"
    assert not AuditEvent.objects.filter(ip_address__in=["6.6.6.6", "10.0.0.2"]).exists()
