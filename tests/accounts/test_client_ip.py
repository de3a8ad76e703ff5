"""The client's address behind trusted proxies, for rate limits, audit events and
signature certificates."""

import pytest
from django.test import RequestFactory

from accounts.client_ip import client_ip


def request(remote_addr="10.0.0.5", forwarded=None):
    headers = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **headers)


def test_without_trusted_proxies_a_forwarded_for_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    assert client_ip(request(forwarded="203.0.113.9")) == "10.0.0.5"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "198.51.100.20", "198.51.100.20"),
        # A client that sends its own header: the proxy appends the real address.
        (1, "203.0.113.9, 198.51.100.20", "198.51.100.20"),
        (1, "1.1.1.1, 2.2.2.2,198.51.100.20", "198.51.100.20"),
        (2, "203.0.113.9, 198.51.100.20, 10.0.0.4", "198.51.100.20"),
        (1, "[2001:db8::7]:443", "2001:db8::7"),
        (1, "198.51.100.20:51234", "198.51.100.20"),
    ],
)
def test_behind_n_proxies_the_client_is_the_nth_address_from_the_right(
    settings, proxies, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies

    assert client_ip(request(forwarded=forwarded)) == expected


@pytest.mark.parametrize("forwarded", [None, "", "not-an-address"])
def test_behind_a_proxy_without_a_usable_header_the_connecting_address_is_used(settings, forwarded):
    settings.TRUSTED_PROXY_COUNT = 1

    assert client_ip(request(forwarded=forwarded)) == "10.0.0.5"


def test_fewer_addresses_than_proxies_falls_back_to_the_connecting_address(settings):
    settings.TRUSTED_PROXY_COUNT = 2

    assert client_ip(request(forwarded="203.0.113.9")) == "10.0.0.5"


@pytest.mark.django_db
def test_allauths_per_ip_sign_in_limit_counts_the_client_behind_the_proxy(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # allauth refuses an 11th failed sign-in within a minute from one address.
    for n in range(10):
        forged = f"10.9.{n}.1, 198.51.100.20"
        refused = client.post(
            "/accounts/login/", {"login": f"p{n}@example.com", "password": "x"}, HTTP_X_FORWARDED_FOR=forged
        )
        assert "not correct" in refused.content.decode()

    same_client = client.post(
        "/accounts/login/", {"login": "q@example.com", "password": "x"}, HTTP_X_FORWARDED_FOR="198.51.100.20"
    )
    other_client = client.post(
        "/accounts/login/", {"login": "q@example.com", "password": "x"}, HTTP_X_FORWARDED_FOR="198.51.100.21"
    )

    assert "Too many failed login attempts" in same_client.content.decode()
    assert "not correct" in other_client.content.decode()
