import pytest

from subscriptions.models import Plan
from tests.factories import LicenceAssignmentFactory, MembershipFactory, PlanFactory, SubscriptionFactory

from .factories import seat_change_signed, staff_factory


class Accounts:
    """Organization A, looked after by `am`; organization B, by `other_am`; `manager`
    sees both. A's admin is `customer`. A has a Documents subscription of 5 seats with
    3 licences in use and a decrease to 3 waiting for approval."""

    def __init__(self):
        self.am = staff_factory("account_manager", email="am@vendor.example", full_name="Alex Manager")
        self.other_am = staff_factory("account_manager", email="other@vendor.example", full_name="Olly Other")
        self.manager = staff_factory("manager", email="boss@vendor.example", full_name="Mo Manager")
        self.customer = MembershipFactory(
            user__email="ada@customer.example",
            user__full_name="Ada Admin",
            user__password=None,
            organization__name="Acme Secret-A Ltd",
            organization__account_manager=self.am,
        )
        self.organization = self.customer.organization
        self.other_organization = MembershipFactory(
            user__password=None,
            organization__name="Globex Secret-B Ltd",
            organization__account_manager=self.other_am,
        ).organization
        self.subscription = SubscriptionFactory(
            organization=self.organization, quantity=5, admin_email="ada@customer.example"
        )
        self.assignments = [LicenceAssignmentFactory(subscription=self.subscription) for _ in range(3)]
        self.decrease = seat_change_signed(self.subscription, 3)


@pytest.fixture
def accounts(db):
    return Accounts()


@pytest.fixture
def period_end_plan(db):
    return PlanFactory(code="documents-yearly", interval=Plan.Interval.YEAR, decrease_policy="period_end")
