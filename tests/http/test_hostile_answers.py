"""Hostile or broken answers from either API end in one clean error, quickly: an absurd
``total_elements`` / ``totalResults`` never plans billions of requests, and JSON nested
thousands of levels deep never escapes as a RecursionError (docs/security.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import respx

from reconciler.edges.http import MAX_JSON_DEPTH, NO_WAIT_RETRY
from reconciler.errors import SourceDataError, TransportError
from reconciler.sources.personio.client import PersonioClient
from reconciler.targets.scim.client import LatticeReader

PERSONIO = "https://api.personio.test/v1"
LATTICE = "https://lattice.example.com/scim/v2"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def personio_client() -> PersonioClient:
    return PersonioClient(
        base_url=PERSONIO,
        client_id="papi-client",
        client_secret="papi-secret",
        app_id="acme-lattice-sync",
        retry=NO_WAIT_RETRY,
        requests_per_second=0,
    )


def lattice_reader() -> LatticeReader:
    return LatticeReader(
        base_url=LATTICE, token="scim-token", retry=NO_WAIT_RETRY, requests_per_second=0
    )


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.fixture
def personio() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=PERSONIO, assert_all_called=False) as router:
        router.post("/auth").mock(
            return_value=httpx.Response(200, json={"success": True, "data": {"token": "t"}})
        )
        yield router


@pytest.fixture
def lattice() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=LATTICE, assert_all_called=False) as router:
        yield router


def test_an_absurd_personio_total_is_refused_after_one_page(personio: respx.MockRouter) -> None:
    body = {
        "success": True,
        "metadata": {"current_page": 0, "total_pages": 10**10, "total_elements": 10**12},
        "offset": 0,
        "limit": 100,
        "data": [],
    }
    employees = personio.get("/company/employees").mock(return_value=httpx.Response(200, json=body))
    started = time.monotonic()

    with personio_client() as client, pytest.raises(SourceDataError) as caught:
        client.fetch_employees()

    assert time.monotonic() - started < 2
    assert employees.call_count == 1
    assert "1,000,000,000,000 employees" in str(caught.value)
    assert "cannot be trusted" in str(caught.value)


def test_an_absurd_lattice_total_is_refused_after_one_page(lattice: respx.MockRouter) -> None:
    body = {"schemas": [LIST_RESPONSE], "totalResults": 10**12, "startIndex": 1, "Resources": []}
    users = lattice.get("/Users").mock(return_value=httpx.Response(200, json=body))
    started = time.monotonic()

    with lattice_reader() as client, pytest.raises(TransportError) as caught:
        client.fetch_users()

    assert time.monotonic() - started < 2
    assert users.call_count == 1
    assert "totalResults 1,000,000,000,000" in str(caught.value)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_deeply_nested_json_from_personio_is_one_clean_error(
    personio: respx.MockRouter, depth: int
) -> None:
    personio.get("/company/employees").mock(
        return_value=httpx.Response(
            200, content=nested(depth), headers={"Content-Type": "application/json"}
        )
    )

    with personio_client() as client, pytest.raises(TransportError) as caught:
        client.fetch_employees()

    assert f"nests deeper than {MAX_JSON_DEPTH} levels" in str(caught.value)
    assert not isinstance(caught.value.__cause__, RecursionError)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_deeply_nested_json_from_lattice_is_one_clean_error(
    lattice: respx.MockRouter, depth: int
) -> None:
    users = lattice.get("/Users").mock(
        return_value=httpx.Response(
            200, content=nested(depth), headers={"Content-Type": "application/scim+json"}
        )
    )

    with lattice_reader() as client, pytest.raises(TransportError) as caught:
        client.fetch_users()

    assert f"nests deeper than {MAX_JSON_DEPTH} levels" in str(caught.value)
    assert users.call_count == 1  # not transient: not fetched again


def test_deeply_nested_json_at_login_is_one_clean_error(personio: respx.MockRouter) -> None:
    personio.post("/auth").mock(
        return_value=httpx.Response(
            200, content=nested(100_000), headers={"Content-Type": "application/json"}
        )
    )

    with personio_client() as client, pytest.raises(TransportError):
        client.fetch_employees()
