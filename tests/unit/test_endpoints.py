"""Where a credential may be sent: the built-in hosts, the operator's allow-list, and the URL
tricks that must never pass (userinfo, query, fragment, plain http, look-alike hosts)."""

from __future__ import annotations

import pytest

from reconciler.endpoints import check_endpoint, parse_allowed_origins
from reconciler.errors import ConfigError
from reconciler.sources.personio.profile import ALLOWED_HOSTS as PERSONIO_HOSTS
from reconciler.sources.personio.profile import DEFAULT_BASE_URL as PERSONIO_URL
from reconciler.targets.lattice.profile import ALLOWED_HOSTS as LATTICE_HOSTS
from reconciler.targets.lattice.profile import DEFAULT_BASE_URL as LATTICE_URL
from reconciler.targets.lattice.profile import EMEA_BASE_URL


def personio(url: str, allowed: frozenset[str] = frozenset()) -> str | None:
    return check_endpoint(url, system="Personio", built_in=PERSONIO_HOSTS, allowed=allowed)


def lattice(url: str, allowed: frozenset[str] = frozenset()) -> str | None:
    return check_endpoint(url, system="Lattice", built_in=LATTICE_HOSTS, allowed=allowed)


def test_the_built_in_endpoints_pass_without_an_allow_list() -> None:
    assert personio(PERSONIO_URL) is None
    assert lattice(LATTICE_URL) is None
    assert lattice(EMEA_BASE_URL) is None
    assert personio("https://API.Personio.de:443/v1") is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://api.personio.de@evil.example/v1", "must not contain a user name or password"),
        ("https://user:pw@api.personio.de/v1", "must not contain a user name or password"),
        ("https://api.personio.de/v1?x=1", "must not contain a query string"),
        ("https://api.personio.de/v1?", "must not contain a query string"),
        ("https://api.personio.de/v1#frag", "must not contain a fragment"),
        ("http://api.personio.de/v1", "must use https on port 443"),
        ("https://api.personio.de:8443/v1", "must use https on port 443"),
        ("https://api.personio.de.evil.example/v1", "is not a Personio API host"),
        ("https://evil.example/api.personio.de/v1", "is not a Personio API host"),
        ("https://api.latticehq.com/v1", "is not a Personio API host"),
        ("https://api.personio.de\\@evil.example/v1", "backslash"),
        ("ftp://api.personio.de/v1", "is not an http(s) URL"),
        ("https:///v1", "is not an http(s) URL"),
    ],
)
def test_an_exfiltrating_personio_url_is_refused_with_one_clear_line(
    url: str, message: str
) -> None:
    problem = personio(url)

    assert problem is not None
    assert message in problem
    assert "\n" not in problem
    assert "pw" not in problem
    assert "user" not in problem.split("—")[0] or "user name" in problem


def test_a_host_not_built_in_says_how_to_allow_it_outside_the_config() -> None:
    assert personio("http://127.0.0.1:8701/v1") == (
        "http://127.0.0.1:8701 is not a Personio API host (built in: api.personio.de) — use one "
        "of those, or, for a sandbox, proxy or test, allow it outside the config with "
        "export RECONCILE_ALLOW_ENDPOINTS=http://127.0.0.1:8701"
    )


def test_an_allowed_origin_passes_and_nothing_else_on_that_host_does() -> None:
    allowed = parse_allowed_origins(" http://127.0.0.1:8701 , https://proxy.example.com/,")

    assert allowed == {"http://127.0.0.1:8701", "https://proxy.example.com"}
    assert personio("http://127.0.0.1:8701/v1", allowed) is None
    assert lattice("https://proxy.example.com:443/scim/v2", allowed) is None
    assert personio("http://127.0.0.1:8702/v1", allowed) is not None
    assert personio("https://127.0.0.1:8701/v1", allowed) is not None
    # The allow-list never lets userinfo, a query or a fragment through.
    assert personio("http://x@127.0.0.1:8701/v1", allowed) is not None
    assert personio("http://127.0.0.1:8701/v1?a=b", allowed) is not None
    assert personio("http://127.0.0.1:8701/v1#a", allowed) is not None


@pytest.mark.parametrize(
    "entry",
    [
        "127.0.0.1:8701",
        "http://127.0.0.1:8701/v1",
        "http://u:p@127.0.0.1:8701",
        "http://127.0.0.1:8701?x",
        "ftp://example.com",
        "http://127.0.0.1:99999",
    ],
)
def test_a_malformed_allow_list_entry_is_refused(entry: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_allowed_origins(f"http://127.0.0.1:1,{entry}")

    assert str(caught.value).startswith("RECONCILE_ALLOW_ENDPOINTS: entry 2: is not an origin")


def test_no_allow_list_means_only_the_built_in_hosts() -> None:
    assert parse_allowed_origins(None) == frozenset()
    assert parse_allowed_origins("") == frozenset()
