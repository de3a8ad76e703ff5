"""No input makes a 500: every refusal under /api/ is {"code", "detail", "request_id"}
JSON with the status that fits, with DEBUG on or off."""

import json

import pytest
from django.test import Client, RequestFactory, override_settings

from licensing.models import OrgUser
from subscriptions.api_http import MAX_BODY_BYTES
from tests.api.conftest import API
from tests.factories import MembershipFactory, OrgUserFactory


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code, body
    assert body["detail"]
    assert body["request_id"] == response["X-Request-Id"]
    return body


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.mark.parametrize(
    "path",
    [
        "/users/abc/",
        "/users/-1/",
        "/users/1.5/",
        "/users/99999999999999999999999/",
        "/subscriptions/x/licences/",
        "/nothing-here/",
        "/users/1/extra/",
    ],
)
def test_unknown_paths_and_ids_answer_a_json_404(api, debug, path):
    response = api.get(API + path)

    body = assert_error(response, 404, "not_found")
    assert "urlpatterns" not in json.dumps(body).lower()


def test_an_unknown_path_under_api_outside_v1_answers_a_json_404(api, debug):
    assert_error(api.get("/api/v2/users/"), 404, "not_found")


def test_a_post_to_an_unknown_path_answers_a_json_404_not_a_csrf_page(api):
    assert_error(api.post(f"{API}/nowhere/", {}, content_type="application/json"), 404, "not_found")


def test_an_id_of_an_unknown_user_answers_404(api, debug):
    assert_error(api.get(f"{API}/users/2147483648/"), 404, "not_found")
    assert_error(api.patch(f"{API}/users/9223372036854775807/", {}, "application/json"), 404, "not_found")


def test_a_method_the_route_does_not_have_answers_405_with_allow(api, debug):
    response = api.put(f"{API}/users/", {}, content_type="application/json")

    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


def test_options_answers_200_json_with_the_schema_url(api, org, debug):
    response = api.options(f"{API}/users/")

    assert response.status_code == 200
    assert response.json()["schema"].endswith("/api/schema/")
    assert "GET" in response["Allow"]


def test_options_for_a_signed_in_admin_never_500s(org, debug):
    client = Client()
    client.force_login(MembershipFactory(organization=org, role="admin").user)

    assert client.options(f"{API}/users/1/").status_code == 200


@pytest.mark.parametrize("fmt", ["api", "xml", "html", "yaml"])
def test_a_format_other_than_json_answers_406(api, debug, fmt):
    assert_error(api.get(f"{API}/users/", {"format": fmt}), 406, "not_acceptable")


def test_format_json_answers_json(api):
    assert api.get(f"{API}/users/", {"format": "json"}).status_code == 200


def test_an_accept_header_without_json_answers_406(api, debug):
    assert_error(api.get(f"{API}/users/", headers={"Accept": "text/html"}), 406, "not_acceptable")
    assert_error(api.get(f"{API}/users/", headers={"Accept": "application/xml"}), 406, "not_acceptable")


def test_a_browser_of_a_signed_in_admin_gets_json_not_a_crash(org, debug):
    client = Client()
    client.force_login(MembershipFactory(organization=org, role="admin").user)
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

    response = client.get(f"{API}/users/", headers={"Accept": browser_accept})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_a_body_that_is_not_json_answers_415(api, debug):
    response = api.post(f"{API}/users/", "name=Ada", content_type="application/x-www-form-urlencoded")

    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "body",
    [b"{", b"[1,", b'{"name": NaN}', b"\xff\xfe", b'{"name": "Ada"} trailing'],
    ids=["truncated", "list", "nan", "not-utf8", "trailing"],
)
def test_malformed_json_answers_400_parse_error(api, debug, body):
    assert_error(api.post(f"{API}/users/", body, content_type="application/json"), 400, "parse_error")


def test_deeply_nested_json_answers_400_not_a_recursion_error(api, debug):
    deep = "[" * 30_000 + "]" * 30_000
    response = api.post(f"{API}/users/", '{"name": ' + deep + "}", content_type="application/json")

    assert_error(response, 400, "parse_error")


def test_nesting_beyond_the_limit_answers_400(api):
    products = ["x"]
    for _ in range(64):
        products = [products]
    nested = {"name": "Ada", "email": "ada@customer.example", "products": products}
    response = api.post(f"{API}/users/", nested, content_type="application/json")

    assert_error(response, 400, "parse_error")


def test_a_body_over_the_limit_answers_413(api, debug):
    body = json.dumps({"name": "x" * (MAX_BODY_BYTES + 1), "email": "ada@customer.example"})

    assert_error(api.post(f"{API}/users/", body, content_type="application/json"), 413, "payload_too_large")
    assert not OrgUser.objects.exists()


def test_a_body_of_megabytes_answers_413(api, org):
    user = OrgUserFactory(organization=org)
    body = json.dumps({"name": "x" * 3_000_000})

    response = api.patch(f"{API}/users/{user.pk}/", body, content_type="application/json")

    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Ada\u0000", "email": "ada@customer.example"},
        {"name": "Ada", "email": "ada\u0000@customer.example"},
        {"name": "Ada", "email": "ada@customer.example", "products": ["doc\u0000"]},
        {"name": "\ud800", "email": "ada@customer.example"},
        {"name": "Ada", "email": "\udfffada@customer.example"},
    ],
    ids=["name", "email", "product", "lone-surrogate", "lone-surrogate-email"],
)
def test_text_postgresql_cannot_store_answers_400(api, debug, body):
    response = api.post(f"{API}/users/", json.dumps(body), content_type="application/json")

    assert_error(response, 400, "invalid")
    assert not OrgUser.objects.exists()


def test_fields_the_api_ignores_may_hold_any_text(api):
    body = {"name": "Ada", "email": "ada@customer.example", "no\u0000te": "\ud800\u0000"}

    response = api.post(f"{API}/users/", json.dumps(body), content_type="application/json")

    assert response.status_code == 201


def test_an_email_over_254_characters_answers_400_and_stores_nothing(api, debug):
    email = "a" * 64 + "@" + ("b" * 60 + ".") * 3 + "example"
    assert len(email) > 254

    response = api.post(f"{API}/users/", {"name": "Ada", "email": email}, content_type="application/json")

    assert_error(response, 400, "invalid")
    assert not OrgUser.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"name": 0, "email": "ada@customer.example"},
        {"name": ["Ada"], "email": "ada@customer.example"},
        {"name": "", "email": "ada@customer.example"},
        {"name": "   ", "email": "ada@customer.example"},
        {"name": "Ada", "email": ""},
        {"name": "Ada", "email": 5},
        {"name": "Ada", "email": "ada@customer.example", "buy_seat_if_needed": "true"},
        {"name": "Ada", "email": "ada@customer.example", "products": "documents"},
        {"name": "Ada", "email": "ada@customer.example", "products": [""]},
        {"name": "Ada", "email": "ada@customer.example", "status": 0},
        ["Ada"],
        "Ada",
        None,
    ],
)
def test_input_of_the_wrong_type_or_blank_answers_400(api, debug, body):
    response = api.post(f"{API}/users/", json.dumps(body), content_type="application/json")

    assert_error(response, 400, "invalid")
    assert not OrgUser.objects.exists()


@pytest.mark.parametrize("user_id", ["5", 5.0, True, -1, 0, 2**63, None])
def test_a_user_id_that_is_not_a_positive_json_integer_answers_400(api, subscription, user_id):
    url = f"{API}/subscriptions/{subscription.pk}/licences/"
    response = api.post(url, {"user_id": user_id}, content_type="application/json")

    assert_error(response, 400, "invalid")


def test_a_patch_of_name_zero_answers_400_and_changes_nothing(api, org):
    user = OrgUserFactory(organization=org, name="Ada")

    response = api.patch(f"{API}/users/{user.pk}/", {"name": 0}, content_type="application/json")

    assert_error(response, 400, "invalid")
    user.refresh_from_db()
    assert user.name == "Ada"


@pytest.mark.parametrize("path", ["/users", "/users/"])
def test_a_post_with_or_without_the_trailing_slash_creates_the_user(api, path):
    response = api.post(API + path, {"name": "Ada", "email": "ada@customer.example"}, "application/json")

    assert response.status_code == 201
    assert OrgUser.objects.get().email == "ada@customer.example"


def test_a_patch_without_the_trailing_slash_keeps_its_body(api, org):
    user = OrgUserFactory(organization=org, name="Ada")

    response = api.patch(f"{API}/users/{user.pk}", {"name": "Ada Lovelace"}, "application/json")

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.name == "Ada Lovelace"


@pytest.mark.parametrize(
    "path",
    ["/subscriptions", "/users", "/licences/check/?product=documents&email=a@b.example"],
)
def test_no_route_of_the_api_redirects(api, path):
    assert api.get(API + path).status_code in (200, 404)


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "abc"},
        {"limit": "-5"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "9223372036854775808"},
        {"limit": ""},
        {"offset": "null"},
        {"offset": "-1"},
        {"offset": "1e3"},
        {"offset": "99999999999"},
    ],
)
def test_bad_paging_parameters_answer_400(api, debug, query):
    assert_error(api.get(f"{API}/users/", query), 400, "invalid")


def test_a_page_holds_at_most_100_users(api, org):
    OrgUser.objects.bulk_create(
        OrgUser(organization=org, name=f"User {i:03d}", email=f"user{i}@customer.example") for i in range(105)
    )

    first = api.get(f"{API}/users/").json()
    second = api.get(f"{API}/users/", {"limit": 100, "offset": 100}).json()

    assert first["count"] == 105 and len(first["results"]) == 100
    assert first["next"].startswith("http://testserver/api/v1/users/")
    assert len(second["results"]) == 5


def test_a_url_over_the_limit_answers_414(api, debug):
    assert_error(api.get(f"{API}/users/", {"x": "y" * 9000}), 414, "uri_too_long")


def test_a_bug_answers_a_json_500_and_is_logged(raw_key, monkeypatch, caplog):
    from licensing import selectors

    def broken(**kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(selectors, "org_users_filtered", broken)
    client = Client(raise_request_exception=False, headers={"Authorization": f"Api-Key {raw_key}"})

    with override_settings(DEBUG=True):
        response = client.get(f"{API}/users/")

    assert_error(response, 500, "server_error")
    assert "a bug" not in response.content.decode()
    assert any("ZeroDivisionError" in (record.exc_text or "") for record in caplog.records)


def test_every_answer_carries_a_request_id_and_a_callers_own_id_is_kept(api, db):
    ok = api.get(f"{API}/users/")
    error = Client().get(f"{API}/users/")
    given = api.get(f"{API}/users/", headers={"X-Request-Id": "trace-1234"})
    unsafe = api.get(f"{API}/users/", headers={"X-Request-Id": "<script>"})

    assert len(ok["X-Request-Id"]) == 32 and ok["X-Request-Id"] != error["X-Request-Id"]
    assert error.json()["request_id"] == error["X-Request-Id"]
    assert given["X-Request-Id"] == "trace-1234"
    assert unsafe["X-Request-Id"] != "<script>"


def test_request_ids_differ_across_forked_processes(api):
    import os

    from subscriptions.api_http import request_id

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a gunicorn worker forked from a preloaded app
        os.write(write, request_id(RequestFactory().get("/")).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    theirs = os.read(read, 64).decode()
    ours = request_id(RequestFactory().get("/"))
    assert len(theirs) == len(ours) == 32 and theirs[:16] != ours[:16]
