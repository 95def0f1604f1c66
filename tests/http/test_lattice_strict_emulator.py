"""The Lattice emulator's strict mode, over its in-process transport: each pessimistic
behaviour it models (docs/decisions.md, "Lattice: the strict emulator"), and our clients
writing through it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.core.model import FULL_NAME_FIELD, Action, Change, FieldChange
from reconciler.edges.http import NO_WAIT_RETRY
from reconciler.sandbox.lattice_emulator import LatticeEmulator
from reconciler.sandbox.scenario import LATTICE_TOKEN
from reconciler.targets.lattice.profile import LATTICE_URN
from reconciler.targets.scim.client import LatticeReader, LatticeWriter
from reconciler.targets.scim.resources import PATCH_OP_URN

BASE = "http://lattice.test/scim/v2"
HEADERS = {"Authorization": f"Bearer {LATTICE_TOKEN}"}


def client(emulator: LatticeEmulator) -> httpx.Client:
    return httpx.Client(base_url=BASE, transport=emulator.transport(), headers=HEADERS)


def post_user(emulator: LatticeEmulator, **extra: Any) -> httpx.Response:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "mary@example.com",
        "externalId": "7",
        "name": {"givenName": "Mary Ann", "familyName": "Smith"},
        **extra,
    }
    with client(emulator) as http:
        return http.post("/Users", json=body)


def patch(emulator: LatticeEmulator, user_id: str, *operations: dict[str, Any]) -> httpx.Response:
    with client(emulator) as http:
        return http.patch(
            f"/Users/{user_id}", json={"schemas": [PATCH_OP_URN], "Operations": list(operations)}
        )


def test_name_parts_come_back_null_and_the_full_name_is_kept_as_sent(
    strict_lattice: LatticeEmulator,
) -> None:
    created = post_user(strict_lattice)
    assert created.status_code == 201
    assert created.json()["name"] == {
        "givenName": None,
        "familyName": None,
        "formatted": "Mary Ann Smith",
    }
    user_id = created.json()["id"]
    # the parts change, the full name is not sent: Lattice keeps the old one
    renamed = patch(
        strict_lattice, user_id, {"op": "replace", "value": {"name": {"familyName": "Jones"}}}
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"]["formatted"] == "Mary Ann Smith"


def test_the_default_mode_still_rebuilds_the_full_name() -> None:
    emulator = LatticeEmulator(token=LATTICE_TOKEN)
    user_id = post_user(emulator).json()["id"]
    renamed = patch(
        emulator, user_id, {"op": "replace", "value": {"name": {"familyName": "Jones"}}}
    )
    assert renamed.json()["name"]["formatted"] == "Mary Ann Jones"


def test_external_id_is_locked_once_set(strict_lattice: LatticeEmulator) -> None:
    user_id = post_user(strict_lattice).json()["id"]
    changed = patch(strict_lattice, user_id, {"op": "replace", "value": {"externalId": "8"}})
    removed = patch(strict_lattice, user_id, {"op": "remove", "path": "externalId"})
    assert (changed.status_code, changed.json()["scimType"]) == (400, "mutability")
    assert removed.status_code == 400
    assert strict_lattice.users[user_id]["externalId"] == "7"


def test_a_path_with_a_space_is_refused_and_sinks_the_whole_patch(
    strict_lattice: LatticeEmulator,
) -> None:
    user_id = post_user(strict_lattice, **{LATTICE_URN: {"Cost Center": "CC-1"}}).json()["id"]
    answer = patch(
        strict_lattice,
        user_id,
        {"op": "replace", "value": {"title": "CTO"}},
        {"op": "remove", "path": f"{LATTICE_URN}:Cost Center"},
    )
    assert (answer.status_code, answer.json()["scimType"]) == (400, "invalidPath")
    assert "title" not in strict_lattice.users[user_id]
    # the same clear as a null in a path-less replace is accepted
    cleared = patch(
        strict_lattice, user_id, {"op": "replace", "value": {LATTICE_URN: {"Cost Center": None}}}
    )
    assert cleared.status_code == 200
    assert "Cost Center" not in cleared.json().get(LATTICE_URN, {})


@pytest.mark.parametrize("extra", [{"password": "hunter22"}, {"phoneNumbers": [{"value": "1"}]}])
def test_password_and_unknown_core_attributes_are_refused(
    strict_lattice: LatticeEmulator, extra: dict[str, Any]
) -> None:
    answer = post_user(strict_lattice, **extra)
    assert (answer.status_code, answer.json()["scimType"]) == (400, "invalidValue")
    assert strict_lattice.users == {}


def test_discovery_lists_schemas_resource_types_and_the_service_provider_config(
    strict_lattice: LatticeEmulator,
) -> None:
    with client(strict_lattice) as http:
        schemas = http.get("/Schemas").json()
        types = http.get("/ResourceTypes").json()
        config = http.get("/ServiceProviderConfig").json()
        core = http.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").json()
    assert [schema["id"] for schema in schemas["Resources"]] == [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        LATTICE_URN,
    ]
    assert types["Resources"][0]["endpoint"] == "/Users"
    assert config["patch"] == {"supported": True}
    assert "password" not in {attribute["name"] for attribute in core["attributes"]}


def test_our_writer_renames_and_clears_through_the_strict_mode(
    strict_lattice: LatticeEmulator,
) -> None:
    """What the writer sends for a rename and a cleared "Cost Center" is accepted, and the
    full name follows the rename."""
    user_id = post_user(strict_lattice, **{LATTICE_URN: {"Cost Center": "CC-1"}}).json()["id"]
    change = Change(
        Action.UPDATE,
        "7",
        user_id,
        "mary@example.com",
        (
            FieldChange("custom:Cost Center", "CC-1", None),
            FieldChange("first_name", None, "Mary Ann"),
            FieldChange("last_name", None, "Jones"),
        ),
    )
    settings: dict[str, Any] = {
        "base_url": BASE,
        "token": LATTICE_TOKEN,
        "transport": strict_lattice.transport(),
        "retry": NO_WAIT_RETRY,
        "requests_per_second": 0,
    }
    with LatticeWriter(**settings) as writer:
        writer.patch(change, None)
    with LatticeReader(**settings) as reader:
        (user,) = reader.fetch_users()
    assert user.fields[FULL_NAME_FIELD] == "Mary Ann Jones"
    assert "custom:Cost Center" not in user.fields


def test_a_remove_with_a_space_in_its_path_is_an_api_error_naming_the_path_problem(
    strict_lattice: LatticeEmulator,
) -> None:
    user_id = post_user(strict_lattice).json()["id"]
    with client(strict_lattice) as http:
        answer = http.patch(
            f"/Users/{user_id}",
            json={
                "schemas": [PATCH_OP_URN],
                "Operations": [{"op": "remove", "path": f"{LATTICE_URN}:Dept. code"}],
            },
        )
    assert answer.status_code == 400
    assert "not a valid attribute path" in answer.json()["detail"]


def test_gender_and_sexual_orientation_are_written_and_cleared_as_extension_attributes(
    strict_lattice: LatticeEmulator,
) -> None:
    user_id = post_user(strict_lattice).json()["id"]
    settings: dict[str, Any] = {
        "base_url": BASE,
        "token": LATTICE_TOKEN,
        "transport": strict_lattice.transport(),
        "retry": NO_WAIT_RETRY,
        "requests_per_second": 0,
    }
    set_both = Change(
        Action.UPDATE,
        "7",
        user_id,
        "mary@example.com",
        (
            FieldChange("gender", None, "Female"),
            FieldChange("sexual_orientation", None, "Bisexual"),
        ),
    )
    with LatticeWriter(**settings) as writer:
        writer.patch(set_both, None)
    assert strict_lattice.users[user_id][LATTICE_URN] == {
        "gender": "Female",
        "sexualOrientation": "Bisexual",
    }
    clear_one = Change(
        Action.UPDATE,
        "7",
        user_id,
        "mary@example.com",
        (FieldChange("sexual_orientation", "Bisexual", None),),
    )
    with LatticeWriter(**settings) as writer:
        writer.patch(clear_one, None)
    with LatticeReader(**settings) as reader:
        (user,) = reader.fetch_users()
    assert (user.fields["gender"], user.fields["sexual_orientation"]) == ("Female", None)
    assert not any(name.startswith("custom:") for name in user.fields)
