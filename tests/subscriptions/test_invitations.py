import re

import pytest
from django.core import mail

from audit.models import AuditEvent
from subscriptions import invitations
from subscriptions.errors import Conflict
from subscriptions.models import Invitation, Membership
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def invite(organization, email, capture):
    with capture(execute=True):
        invitation = invitations.invitation_create(organization=organization, email=email)
    (message,) = mail.outbox
    raw = re.search(r"/subscriptions/invitations/(\S+)/", message.body).group(1)
    return invitation, raw


def test_only_the_tokens_hash_is_stored_and_the_link_resolves_to_the_invitation(
    django_capture_on_commit_callbacks,
):
    invitation, raw = invite(
        OrganizationFactory(), " Bea@Bigcorp.example ", django_capture_on_commit_callbacks
    )

    assert invitation.email == "bea@bigcorp.example"
    assert raw not in str(Invitation.objects.values().get())
    assert invitations.invitation_resolve(raw) == invitation
    assert invitations.invitation_resolve(raw[:-1]) is None


def test_an_invitation_is_accepted_once_and_only_with_the_verified_address(
    django_capture_on_commit_callbacks,
):
    organization = OrganizationFactory()
    invitation, raw = invite(organization, "bea@bigcorp.example", django_capture_on_commit_callbacks)
    bea = UserFactory(email="bea@bigcorp.example")
    unverified = UserFactory(email="mallory@attacker.example")
    unverified.emailaddress_set.create(email="bea@bigcorp.example", verified=False)

    with pytest.raises(invitations.InvitationForAnotherAddress):
        invitations.invitation_accept(invitation=invitation, user=unverified)
    membership = invitations.invitation_accept(invitation=invitation, user=bea)
    with pytest.raises(Conflict):
        invitations.invitation_accept(invitation=invitation, user=bea)

    assert (membership.user, membership.organization, membership.role) == (bea, organization, "admin")
    assert Membership.objects.filter(organization=organization).count() == 1
    assert invitations.invitation_resolve(raw) is None
    assert AuditEvent.objects.filter(action="invitation.accepted", actor=bea).count() == 1
