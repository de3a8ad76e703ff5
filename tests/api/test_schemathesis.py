"""The API against its own schema: schemathesis sends schema-valid and schema-invalid
requests to every operation of a live server on PostgreSQL, with a real API key, and
runs all of its checks (no 500, status codes, content types, headers and bodies as
documented, invalid data refused, valid data accepted, authentication enforced).

Bounded: a fixed seed (`derandomize`), 100 examples per operation and generation mode
(schema-valid and schema-invalid), about a minute."""

import json

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, NegativeDataRejectionConfig

from tests.api.conftest import api_key_for
from tests.factories import LicenceAssignmentFactory, OrgUserFactory, SubscriptionFactory

EXAMPLES = 100


@pytest.fixture
def seeded_key(transactional_db):
    subscription = SubscriptionFactory(quantity=50)
    organization = subscription.organization
    for i in range(3):
        LicenceAssignmentFactory(
            subscription=subscription,
            org_user=OrgUserFactory(organization=organization, email=f"user{i}@customer.example"),
        )
    return api_key_for(organization)


@pytest.fixture
def fuzzed_server(live_server, seeded_key, settings):
    # The rate limits are tested on their own (test_rate_limits.py); here they would only
    # turn the fuzzing's thousands of requests into 429s.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api": "1000000/min", "licence_check": "1000000/min"},
    }
    return live_server.url, {"Authorization": f"Api-Key {seeded_key}"}


def served_schema() -> dict:
    """The schema /api/schema/ serves (built here: the live server does not exist yet
    when tests are collected)."""
    generator = SchemaGenerator()
    return json.loads(OpenApiJsonRenderer().render(generator.get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(served_schema())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES, database="none"
)
# A URL over 8,190 characters (made of invalid parameters: valid ones stay under ~4,400)
# is refused with 414 before its parameters are read: a rejection too.
schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(
    expected_statuses=[*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "414"]
)


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_the_api_conforms_to_its_schema(case, fuzzed_server):
    base_url, headers = fuzzed_server
    case.call_and_validate(base_url=base_url, headers=headers)
