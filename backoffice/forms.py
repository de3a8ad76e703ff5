"""Forms parse what staff typed into typed values; the rules live in `services`, whose
InvalidInput errors are shown on the field they name (`add_service_error`)."""

from django import forms
from django.utils import timezone

from licensing.models import ConnectedOrg
from subscriptions import numbers
from subscriptions.errors import DomainError
from subscriptions.models import Plan

from .selectors import staff_who_can_manage_accounts


class PlanChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, plan: Plan) -> str:
        return f"{plan.product.name} — {plan.name} ({plan.get_interval_display().lower()})"


def _plans():
    return Plan.objects.select_related("product").order_by("product__name", "interval")


class SubscriptionForm(forms.Form):
    plan = PlanChoiceField(queryset=_plans(), label="Product and plan", empty_label=None)
    seats = forms.IntegerField(
        label="Number of users (seats)", min_value=1, max_value=numbers.INTEGER_MAX, initial=1
    )
    admin_email = forms.EmailField(
        label="Customer admin's email", help_text="The “is now active” email with the unique links goes here."
    )
    period_start = forms.DateField(
        label="Current period starts",
        help_text="The period lasts one plan interval from 00:00 UTC on this day.",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    activate = forms.BooleanField(
        label="Activate now and email the admin their unique links", required=False, initial=True
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["period_start"].initial = timezone.now().date()


class AccountForm(SubscriptionForm):
    name = forms.CharField(label="Organization name", max_length=200)
    slug = forms.SlugField(
        label="Short name",
        max_length=80,
        required=False,
        help_text="Letters, digits and dashes; from the name if empty.",
    )
    billing_email = forms.EmailField(label="Billing email")
    admin_name = forms.CharField(label="Customer admin's full name", max_length=200)
    account_manager = forms.ModelChoiceField(
        queryset=staff_who_can_manage_accounts(), label="Account manager", required=False
    )

    field_order = [
        "name",
        "slug",
        "billing_email",
        "account_manager",
        "admin_name",
        "admin_email",
        "plan",
        "seats",
        "period_start",
        "activate",
    ]

    def __init__(self, *args, sees_all: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[
            "admin_email"
        ].help_text = "They become the organization's admin and sign in by emailed code."
        if not sees_all:
            del self.fields["account_manager"]


class ConnectedOrgForm(forms.Form):
    """Connector settings. Secrets are never shown back: the password fields start
    empty, and empty keeps what is stored."""

    kind = forms.ChoiceField(label="Connector", choices=ConnectedOrg.Kind.choices)
    webhook_url = forms.CharField(
        label="Webhook URL",
        required=False,
        max_length=200,
        help_text=(
            "Seat counts are POSTed here as JSON, signed per Standard Webhooks. "
            "An https:// address on the public internet; redirects are not followed."
        ),
        widget=forms.URLInput(attrs={"inputmode": "url", "spellcheck": "false"}),
    )
    new_webhook_secret = forms.BooleanField(
        label="Generate a new signing secret (the current one stops working)", required=False
    )
    salesforce_login_url = forms.CharField(
        label="Login URL",
        required=False,
        max_length=200,
        help_text="https://login.salesforce.com, https://test.salesforce.com or the org's My Domain.",
        widget=forms.URLInput(attrs={"inputmode": "url", "spellcheck": "false"}),
    )
    salesforce_username = forms.CharField(label="Integration user's username", required=False, max_length=200)
    salesforce_password = forms.CharField(
        label="Integration user's password (and security token)",
        required=False,
        help_text="Leave empty to keep the stored one.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    salesforce_client_id = forms.CharField(
        label="Connected app's consumer key", required=False, max_length=300
    )
    salesforce_client_secret = forms.CharField(
        label="Connected app's consumer secret",
        required=False,
        help_text="Leave empty to keep the stored one.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    salesforce_subscriber_org_id = forms.CharField(
        label="Subscriber org id", required=False, max_length=18, help_text="The customer's org id (00D…)."
    )
    salesforce_package_id = forms.CharField(
        label="Package id", required=False, max_length=18, help_text="The licensed package (033…)."
    )

    @staticmethod
    def initial_from(connected_org: ConnectedOrg) -> dict:
        fields = [
            name for name in ConnectedOrgForm.base_fields if "password" not in name and "secret" not in name
        ]
        return {name: getattr(connected_org, name) for name in fields}


def add_service_error(form: forms.Form, error: DomainError) -> None:
    """Show a service's refusal on the field it names, or above the form."""
    field = error.extra.get("field")
    form.add_error(field if field in form.fields else None, error.message)
