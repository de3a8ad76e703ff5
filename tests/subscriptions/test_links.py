import pytest
from django.core import mail
from django.db import transaction

from audit.models import AuditEvent
from subscriptions import links
from subscriptions.models import CapabilityLink, SeatChange, Subscription
from tests.backoffice.factories import seat_change_open
from tests.factories import MembershipFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db(transaction=True)


def token_from(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def activate():
    subscription = SubscriptionFactory(status=Subscription.Status.PENDING, admin_email="ada@acme.example")
    links.subscription_activate(subscription=subscription)
    (message,) = mail.outbox
    urls = [line for line in message.body.splitlines() if "/l/" in line]
    return subscription, message, urls


def test_activation_emails_the_admin_product_is_now_active_with_two_unique_links():
    subscription, message, urls = activate()

    assert message.subject == "Opero Documents is now active"
    assert message.to == ["ada@acme.example"]
    assert "Add or remove users" in message.body and "Cancel subscription" in message.body
    assert len(urls) == 2
    subscription.refresh_from_db()
    assert subscription.status == "active" and subscription.activated_at is not None


def test_an_admin_with_an_account_is_also_told_where_to_sign_in_to_give_out_licences(settings):
    settings.SITE_URL = "https://seats.example"
    _, without_account, _ = activate()
    mail.outbox.clear()
    subscription = SubscriptionFactory(status=Subscription.Status.PENDING, admin_email="Grace@Acme.example")
    MembershipFactory(organization=subscription.organization, user__email="grace@acme.example")

    links.subscription_activate(subscription=subscription)

    (with_account,) = mail.outbox
    assert "sign in at https://seats.example/accounts/login/ with Grace@Acme.example" in with_account.body
    assert "/accounts/login/" not in without_account.body


def test_link_tokens_are_256_bit_and_stored_only_as_a_hash():
    _, _, urls = activate()
    tokens = [token_from(url) for url in urls]
    stored = list(CapabilityLink.objects.values_list("token_hash", flat=True))

    assert all(len(token) >= 43 for token in tokens)  # 32 random bytes, base64url
    assert not any(token in value for token in tokens for value in stored)
    assert {links.link_resolve(token).action for token in tokens} == {"change_seats", "cancel"}


def test_a_link_only_does_its_own_action():
    _, _, urls = activate()
    cancel = next(token_from(u) for u in urls if links.link_resolve(token_from(u)).action == "cancel")

    assert links.link_resolve(cancel, actions=["change_seats"]) is None
    assert links.link_resolve(cancel, actions=["cancel"]) is not None


def test_rotating_revokes_the_old_links_and_emails_new_ones():
    subscription, _, urls = activate()
    old = [token_from(u) for u in urls]

    links.links_rotate(subscription=subscription)

    assert all(links.link_resolve(token) is None for token in old)
    new = [token_from(line) for line in mail.outbox[-1].body.splitlines() if "/l/" in line]
    assert len(new) == 2 and all(links.link_resolve(token) for token in new)


def test_rotating_also_revokes_signing_links_and_resends_the_one_a_signer_still_needs():
    subscription, _, _ = activate()
    waiting = seat_change_open(subscription, 4)
    SeatChange.objects.filter(pk=waiting.pk).update(signer_name="Fin Ance", signer_email="fin@acme.example")
    waiting.refresh_from_db()
    old_signing = links.signing_link_send(seat_change=waiting)
    _, api_token = links.link_issue(
        subscription=subscription,
        action=CapabilityLink.Action.SIGN,
        email="api@acme.example",
        seat_change=waiting,
    )
    mail.outbox.clear()

    links.links_rotate(subscription=subscription)

    old_signing.refresh_from_db()
    assert old_signing.revoked_at is not None and links.link_resolve(api_token) is None
    (fresh, admin_links) = sorted(mail.outbox, key=lambda m: m.to != ["fin@acme.example"])
    assert fresh.to == ["fin@acme.example"] and waiting.number in fresh.subject
    fresh_link = links.link_resolve(token_from(next(u for u in fresh.body.splitlines() if "/l/" in u)))
    assert (fresh_link.action, fresh_link.seat_change_id, fresh_link.email) == (
        "sign",
        waiting.pk,
        "fin@acme.example",
    )
    assert admin_links.to == ["ada@acme.example"]
    event = AuditEvent.objects.get(action="links.rotated")
    assert event.after == {"revoked": 4, "signing_links_resent": [waiting.number]}


def test_unknown_and_malformed_tokens_resolve_to_nothing():
    activate()
    assert links.link_resolve("x" * 43) is None
    assert links.link_resolve("") is None
    assert links.link_resolve("y" * 5000) is None


def test_retrieving_links_emails_a_known_admin_and_nobody_else():
    activate()
    mail.outbox.clear()

    assert links.links_retrieve_send(email="ADA@acme.example") == 1
    assert links.links_retrieve_send(email="stranger@example.com") == 0

    assert [m.to for m in mail.outbox] == [["ada@acme.example"]]
    assert mail.outbox[0].subject == "Your Opero Documents links"


def test_retrieving_links_is_rate_limited_per_address_and_per_ip():
    activate()
    for _ in range(links.RETRIEVE_LIMIT_PER_ADDRESS):
        links.links_retrieve(email="ada@acme.example", ip="10.0.0.2")
    with pytest.raises(links.RateLimited, match="Too many requests"):
        links.links_retrieve(email="ada@acme.example", ip="10.0.0.3")

    for n in range(links.RETRIEVE_LIMIT_PER_IP):
        links.links_retrieve(email=f"someone{n}@example.com", ip="10.0.0.9")
    with pytest.raises(links.RateLimited):
        links.links_retrieve(email="another@example.com", ip="10.0.0.9")


def test_a_rolled_back_activation_sends_no_email():
    subscription = SubscriptionFactory(status=Subscription.Status.PENDING)
    with pytest.raises(RuntimeError), transaction.atomic():
        links.subscription_activate(subscription=subscription)
        raise RuntimeError("crash after activation")

    assert mail.outbox == []
    assert not CapabilityLink.objects.exists()
