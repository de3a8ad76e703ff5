import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command

API_OPERATIONS = {
    "/api/v1/subscriptions/": {"get"},
    "/api/v1/users/": {"get", "post"},
    "/api/v1/users/{id}/": {"get", "patch", "delete"},
    "/api/v1/subscriptions/{id}/licences/": {"post"},
    "/api/v1/subscriptions/{id}/licences/{user_id}/": {"delete"},
    "/api/v1/licences/check": {"get"},
}


@pytest.fixture
def schema(client, db):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_schema_documents_every_api_operation(schema):
    documented = {
        path: set(operations) & {"get", "post", "patch", "put", "delete"}
        for path, operations in schema["paths"].items()
    }

    for path, methods in API_OPERATIONS.items():
        assert documented.get(path) == methods, path


def test_schema_documents_request_and_response_shapes(schema):
    paths = schema["paths"]
    create_user = paths["/api/v1/users/"]["post"]
    check = paths["/api/v1/licences/check"]["get"]

    assert create_user["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OrgUserCreate"
    }
    assert {"201", "400", "401", "403", "404", "409", "413", "415", "429"} <= set(create_user["responses"])
    assert {parameter["name"] for parameter in check["parameters"]} == {"product", "email"}
    assert check["security"] == [{"ApiKey": []}]
    subscription = schema["components"]["schemas"]["Subscription"]["properties"]
    assert set(subscription) == {
        "id",
        "ends_on",
        "next_renewal_amount",
        "product",
        "plan",
        "seats",
        "status",
        "current_period_start",
        "current_period_end",
    }
    assert schema["components"]["securitySchemes"]["ApiKey"]["in"] == "header"


def test_schema_is_valid_openapi_without_warnings(db, tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_docs_page_loads_its_assets_from_our_static_files_only(client, db):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    assert not re.search(r"https?://", html)
    # Swagger UI's start-up script comes from the page's own URL (?script): nothing inline,
    # which the Content-Security-Policy would refuse.
    assert "/api/docs/?script=" in assets
    assert not re.search(r"<script>|<style", html)
    for asset in assets:
        if asset == "/api/docs/?script=":
            continue
        assert asset.startswith(settings.STATIC_URL), asset
        assert finders.find(asset.removeprefix(settings.STATIC_URL)), asset

    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
