"""The SCIM reader and writer for a service other than Lattice, given only its ``ScimDialect``
(respx): where they look for custom attributes, what they send, the credential hint."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import respx

from reconciler.core.model import Action, Change, FieldChange
from reconciler.edges.http import NO_WAIT_RETRY
from reconciler.errors import AuthError
from reconciler.targets.scim.client import LatticeReader, LatticeWriter
from reconciler.targets.scim.dialect import RFC7643_LOCATIONS, SchemaAttribute, ScimDialect
from reconciler.targets.scim.resources import CORE_URN, LIST_RESPONSE_URN, RFC7643_DIALECT

BASE = "https://scim.acme.example.com/v2"
TOKEN = "acme-secret-token"
ACME_URN = "urn:example:params:scim:schemas:extension:acme:2.0:User"
ACME = ScimDialect(
    name="Acme",
    system="acme",
    locations={**RFC7643_LOCATIONS, "start_date": (ACME_URN, ("hireDate",))},
    auth_fix="create an API token under Acme › Settings › Provisioning",
    extension_urn=ACME_URN,
    standard_extension_keys={"hireDate": "start_date"},
)
OPTIONS: dict[str, object] = {
    "base_url": BASE,
    "token": TOKEN,
    "retry": NO_WAIT_RETRY,
    "requests_per_second": 0,
}


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


def test_custom_attribute_names_come_from_the_dialects_extension_schema(
    router: respx.MockRouter,
) -> None:
    route = router.get(f"/Schemas/{ACME_URN}").mock(
        return_value=httpx.Response(
            200, json={"id": ACME_URN, "attributes": [{"name": "HireDate"}, {"name": "Desk"}]}
        )
    )
    with LatticeReader(**OPTIONS, dialect=ACME) as reader:  # type: ignore[arg-type]
        assert reader.fetch_custom_attributes() == {"Desk": SchemaAttribute("Desk", "string")}
    assert route.call_count == 1


def test_a_service_without_an_extension_has_no_custom_attributes_and_is_not_asked(
    router: respx.MockRouter,
) -> None:
    with LatticeReader(**OPTIONS, dialect=RFC7643_DIALECT) as reader:  # type: ignore[arg-type]
        assert reader.fetch_custom_attributes() == {}
        assert reader.request_count == 0
    assert not router.calls


def test_users_are_listed_with_the_dialects_layout(router: respx.MockRouter) -> None:
    user = {"id": "a-1", "userName": "ada@example.com", ACME_URN: {"hireDate": "2021-03-01"}}
    router.get("/Users").mock(
        return_value=httpx.Response(
            200,
            json={
                "schemas": [LIST_RESPONSE_URN],
                "totalResults": 1,
                "startIndex": 1,
                "Resources": [user],
            },
        )
    )
    with LatticeReader(**OPTIONS, dialect=ACME) as reader:  # type: ignore[arg-type]
        (found,) = reader.fetch_users()
    assert found.fields["start_date"] == "2021-03-01"
    assert "custom:hireDate" not in found.fields


def sent_extension() -> dict[str, object]:
    return {"hireDate": "2021-03-01", "Desk": 12}


def test_the_writer_sends_bodies_in_the_dialects_layout(router: respx.MockRouter) -> None:
    route = router.post("/Users").mock(return_value=httpx.Response(201, json={"id": "a-9"}))
    change = Change(
        Action.CREATE,
        "1234",
        None,
        "ada@example.com",
        (FieldChange("start_date", None, "2021-03-01"), FieldChange("custom:Desk", None, 12)),
    )
    # the answer carries only the id: the write is verified by reading the user back
    stored = {"id": "a-9", "userName": "ada@example.com", ACME_URN: sent_extension()}
    router.get("/Users/a-9").mock(return_value=httpx.Response(200, json=stored))
    with LatticeWriter(**OPTIONS, dialect=ACME) as writer:  # type: ignore[arg-type]
        written = writer.create(change, None)
    assert (written.target_id, written.read_backs, written.not_stored) == ("a-9", 1, ())
    sent = json.loads(route.calls.last.request.content)
    assert sent["schemas"] == [CORE_URN, ACME_URN]
    assert sent[ACME_URN] == {"hireDate": "2021-03-01", "Desk": 12}


def test_refused_credentials_carry_the_dialects_hint(router: respx.MockRouter) -> None:
    router.get("/Users").mock(return_value=httpx.Response(401, json={"detail": "Unauthorized"}))
    with (
        LatticeReader(**OPTIONS, dialect=ACME) as reader,  # type: ignore[arg-type]
        pytest.raises(AuthError) as caught,
    ):
        reader.check_access()
    assert caught.value.fix == ACME.auth_fix
    assert TOKEN not in str(caught.value)
