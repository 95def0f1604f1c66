"""Pure SCIM translation: parsing a Lattice user, building create and PATCH bodies, error details.
No HTTP at all: these are the functions the clients call before and after each request."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.model import Action, Change, FieldChange, FieldValue, TargetUser
from reconciler.core.normalise import nfc
from reconciler.targets.lattice.profile import LATTICE_SCIM, LATTICE_URN
from reconciler.targets.scim.resources import (
    CORE_URN,
    ENTERPRISE_URN,
    PATCH_OP_URN,
    build_create_body,
    build_filter,
    build_patch_body,
    parse_error_detail,
    parse_user,
)

FULL_RESOURCE: dict[str, object] = {
    "schemas": [CORE_URN, ENTERPRISE_URN, LATTICE_URN],
    "id": "u_000042",
    "externalId": " 1234 ",
    "userName": "ada.lovelace@example.com",
    "name": {"givenName": " Ada ", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
    "nickName": "",
    "title": "Engineer",
    "active": False,
    "emails": [{"value": "ada.lovelace@example.com", "primary": True, "type": "work"}],
    ENTERPRISE_URN: {"department": "R&D", "manager": {"value": "u_000007", "$ref": "x"}},
    LATTICE_URN: {
        "startDate": "2021-03-01T00:00:00Z",
        "birthDate": "1990-12-10",
        # standard attributes of the extension, not custom ones
        "gender": "Female ",
        "sexualOrientation": "Prefer not to say",
        "Cost Center": "CC-100 ",
        "Level": 3.0,
        "Ratio": 0.5,
        "Buddy": "grace@example.com",
        "Empty": "",
    },
    "meta": {"resourceType": "User"},
}


def test_a_full_resource_parses_into_the_whole_lattice_user() -> None:
    assert parse_user(FULL_RESOURCE, LATTICE_SCIM) == TargetUser(
        target_id="u_000042",
        email="ada.lovelace@example.com",
        active=False,
        external_id="1234",
        fields={
            "email": "ada.lovelace@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "preferred_name": None,
            "title": "Engineer",
            "department": "R&D",
            "manager": "u_000007",
            "start_date": "2021-03-01",
            "birth_date": "1990-12-10",
            "gender": "Female",
            "ethnicity": None,
            "sexual_orientation": "Prefer not to say",
            "custom:Cost Center": "CC-100",
            "custom:Level": 3,
            "custom:Ratio": 0.5,
            "custom:Buddy": "grace@example.com",
            "custom:Empty": None,
        },
    )


def test_a_list_value_parses_into_its_texts_and_is_written_back_as_a_list() -> None:
    resource = {
        "id": "u_1",
        "userName": "bo@example.com",
        LATTICE_URN: {
            "Skills": ["Python", " Go ", "", None, {"value": "Cafe\u0301"}],
            "Nothing": [],
        },
    }
    fields = parse_user(resource, LATTICE_SCIM).fields
    # In the order sent; the core compares it as the config's type says (a sorted set).
    assert fields["custom:Skills"] == ("Python", "Go", "Café")
    assert fields["custom:Nothing"] is None

    change = Change(
        Action.CREATE,
        "1",
        None,
        "bo@example.com",
        (FieldChange("custom:Skills", None, ("Go", "Python")),),
    )
    body = build_create_body(change, None, LATTICE_SCIM)
    assert json.loads(json.dumps(body))[LATTICE_URN] == {"Skills": ["Go", "Python"]}
    update = Change(
        Action.UPDATE,
        "1",
        "u_1",
        "bo@example.com",
        (FieldChange("custom:Skills", ("Go",), ("Go", "SQL")),),
    )
    patch = json.loads(json.dumps(build_patch_body(update, None, LATTICE_SCIM)))
    assert patch["Operations"] == [
        {"op": "replace", "value": {LATTICE_URN: {"Skills": ["Go", "SQL"]}}}
    ]


def test_a_minimal_resource_has_every_standard_field_as_none() -> None:
    user = parse_user({"id": "u_1", "userName": "bo@example.com", "active": True}, LATTICE_SCIM)
    assert (user.target_id, user.email, user.active, user.external_id) == (
        "u_1",
        "bo@example.com",
        True,
        None,
    )
    assert user.fields == {
        "email": "bo@example.com",
        "first_name": None,
        "last_name": None,
        "preferred_name": None,
        "title": None,
        "department": None,
        "manager": None,
        "start_date": None,
        "birth_date": None,
        "gender": None,
        "ethnicity": None,
        "sexual_orientation": None,
    }


def test_a_resource_without_username_falls_back_to_its_primary_email() -> None:
    user = parse_user(
        {
            "id": "u_1",
            "emails": [
                {"value": "home@example.com"},
                {"value": "work@example.com", "primary": True},
            ],
        },
        LATTICE_SCIM,
    )
    assert user.email == "work@example.com"


def test_a_resource_without_id_is_refused_without_personal_data() -> None:
    with pytest.raises(ValueError, match="has no id") as caught:
        parse_user({"userName": "ada@example.com"}, LATTICE_SCIM)
    assert "example.com" not in str(caught.value)


def test_a_create_body_carries_every_field_under_its_schema() -> None:
    change = Change(
        Action.CREATE,
        "1234",
        None,
        "ada@example.com",
        (
            FieldChange("birth_date", None, "1990-12-10"),
            FieldChange("custom:Cost Center", None, "CC-100"),
            FieldChange("custom:Level", None, 3),
            FieldChange("department", None, "R&D"),
            FieldChange("email", None, "ada@example.com"),
            FieldChange("first_name", None, "Ada"),
            FieldChange("last_name", None, "Lovelace"),
            FieldChange("manager", None, "77"),
            FieldChange("preferred_name", None, "Addie"),
            FieldChange("start_date", None, "2021-03-01"),
            FieldChange("title", None, "Engineer"),
        ),
        depends_on="77",
    )
    assert build_create_body(change, "u_000007", LATTICE_SCIM) == {
        "schemas": [CORE_URN, ENTERPRISE_URN, LATTICE_URN],
        "externalId": "1234",
        "userName": "ada@example.com",
        "active": True,
        "emails": [{"value": "ada@example.com", "primary": True, "type": "work"}],
        "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
        "nickName": "Addie",
        "title": "Engineer",
        ENTERPRISE_URN: {"department": "R&D", "manager": {"value": "u_000007"}},
        LATTICE_URN: {
            "birthDate": "1990-12-10",
            "Cost Center": "CC-100",
            "Level": 3,
            "startDate": "2021-03-01",
        },
    }


def test_a_create_body_with_core_fields_only_announces_only_the_core_schema() -> None:
    change = Change(
        Action.CREATE,
        "9",
        None,
        "bo@example.com",
        (FieldChange("first_name", None, "Bo"), FieldChange("title", None, None)),
    )
    assert build_create_body(change, None, LATTICE_SCIM) == {
        "schemas": [CORE_URN],
        "externalId": "9",
        "userName": "bo@example.com",
        "active": True,
        "emails": [{"value": "bo@example.com", "primary": True, "type": "work"}],
        "name": {"givenName": "Bo", "formatted": "Bo"},
    }


def test_a_create_body_leaves_out_a_manager_that_could_not_be_resolved() -> None:
    change = Change(
        Action.CREATE, "9", None, "bo@example.com", (FieldChange("manager", None, "77"),)
    )
    assert "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" not in build_create_body(
        change, None, LATTICE_SCIM
    )


def test_a_create_body_needs_a_create_change() -> None:
    with pytest.raises(ValueError, match="needs a create change"):
        build_create_body(Change(Action.UPDATE, "1", "u_1", "a@example.com"), None, LATTICE_SCIM)


def test_an_update_patch_is_one_replace_plus_removes_for_cleared_fields() -> None:
    """A cleared "Cost Center" is no valid SCIM path: it is a null in the path-less replace."""
    change = Change(
        Action.UPDATE,
        "1234",
        "u_000042",
        "ada@example.com",
        (
            FieldChange("custom:Cost Center", "CC-1", None),
            FieldChange("custom:Level", 2, 3),
            FieldChange("department", "R&D", "Research"),
            FieldChange("first_name", "Ad", "Ada"),
            FieldChange("manager", "77", None),
            FieldChange("start_date", "2021-03-01", None),
            FieldChange("title", "Engineer", None),
        ),
    )
    assert build_patch_body(change, None, LATTICE_SCIM) == {
        "schemas": [PATCH_OP_URN],
        "Operations": [
            {
                "op": "replace",
                "value": {
                    LATTICE_URN: {"Cost Center": None, "Level": 3},
                    ENTERPRISE_URN: {"department": "Research"},
                    "name": {"givenName": "Ada"},
                },
            },
            {"op": "remove", "path": f"{ENTERPRISE_URN}:manager"},
            {"op": "remove", "path": f"{LATTICE_URN}:startDate"},
            {"op": "remove", "path": "title"},
        ],
    }


def test_an_update_patch_sets_the_resolved_manager_and_a_new_email() -> None:
    change = Change(
        Action.UPDATE,
        "1234",
        "u_000042",
        "ada.l@example.com",
        (
            FieldChange("email", "ada@example.com", "ada.l@example.com"),
            FieldChange("manager", "77", "78"),
        ),
    )
    assert build_patch_body(change, "u_000008", LATTICE_SCIM) == {
        "schemas": [PATCH_OP_URN],
        "Operations": [
            {
                "op": "replace",
                "value": {
                    "userName": "ada.l@example.com",
                    "emails": [{"value": "ada.l@example.com", "primary": True, "type": "work"}],
                    ENTERPRISE_URN: {"manager": {"value": "u_000008"}},
                },
            }
        ],
    }


def test_a_link_patch_writes_the_external_id_with_the_field_diffs() -> None:
    change = Change(
        Action.LINK, "1234", "u_000042", "ada@example.com", (FieldChange("title", None, "CTO"),)
    )
    assert build_patch_body(change, None, LATTICE_SCIM) == {
        "schemas": [PATCH_OP_URN],
        "Operations": [{"op": "replace", "value": {"externalId": "1234", "title": "CTO"}}],
    }


def test_a_reactivate_patch_sets_active_with_the_field_diffs() -> None:
    change = Change(
        Action.REACTIVATE,
        "1234",
        "u_000042",
        "ada@example.com",
        (FieldChange("birth_date", None, "1990-12-10"),),
    )
    assert build_patch_body(change, None, LATTICE_SCIM) == {
        "schemas": [PATCH_OP_URN],
        "Operations": [
            {"op": "replace", "value": {"active": True, LATTICE_URN: {"birthDate": "1990-12-10"}}}
        ],
    }


def test_a_deactivate_patch_only_sets_active_false() -> None:
    change = Change(Action.DEACTIVATE, "1234", "u_000042", "ada@example.com")
    assert build_patch_body(change, None, LATTICE_SCIM) == {
        "schemas": [PATCH_OP_URN],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }


def test_an_update_that_changes_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="changes nothing"):
        build_patch_body(Change(Action.UPDATE, "1", "u_1", "a@example.com"), None, LATTICE_SCIM)


def test_an_unknown_field_name_is_refused() -> None:
    change = Change(
        Action.UPDATE, "1", "u_1", "a@example.com", (FieldChange("shoe_size", None, "42"),)
    )
    with pytest.raises(ValueError, match="unknown Lattice field 'shoe_size'"):
        build_patch_body(change, None, LATTICE_SCIM)


def test_a_create_is_never_sent_as_a_patch() -> None:
    with pytest.raises(ValueError, match="build_create_body"):
        build_patch_body(Change(Action.CREATE, "1", None, "a@example.com"), None, LATTICE_SCIM)


def test_error_details_lose_anything_that_looks_like_an_email() -> None:
    response = httpx.Response(
        409,
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "409",
            "scimType": "uniqueness",
            "detail": "User with userName 'Ada.Lovelace+x@example.com' already exists",
        },
    )
    assert parse_error_detail(response) == "User with userName '<email>' already exists"


def test_an_error_without_a_json_detail_has_no_detail() -> None:
    assert parse_error_detail(httpx.Response(502, text="<html>Bad gateway</html>")) is None
    assert parse_error_detail(httpx.Response(400, json={"status": "400"})) is None


def test_filter_values_are_quoted_and_escaped() -> None:
    assert build_filter("userName", 'a"b\\c@example.com') == 'userName eq "a\\"b\\\\c@example.com"'


# desired text is in NFC (core/normalise.py, as the mapping makes it), like what is read back
_TEXT = st.text(min_size=1, max_size=20).map(lambda text: nfc(text.strip())).filter(bool)
_DATES = st.dates().map(lambda day: day.isoformat())
_NUMBERS = st.one_of(st.integers(-(10**9), 10**9), st.floats(-1e6, 1e6))


@given(
    first=st.none() | _TEXT,
    last=st.none() | _TEXT,
    title=st.none() | _TEXT,
    department=st.none() | _TEXT,
    start=st.none() | _DATES,
    number=st.none() | _NUMBERS,
    choice=st.none() | _TEXT,
)
def test_what_a_create_writes_reads_back_as_the_same_fields(
    *,
    first: str | None,
    last: str | None,
    title: str | None,
    department: str | None,
    start: str | None,
    number: float | None,
    choice: str | None,
) -> None:
    wanted: dict[str, FieldValue] = {
        "first_name": first,
        "last_name": last,
        "title": title,
        "department": department,
        "start_date": start,
        "custom:Level": number,
        "custom:Team": choice,
    }
    change = Change(
        Action.CREATE,
        "1",
        None,
        "ada@example.com",
        tuple(FieldChange(name, None, value) for name, value in wanted.items()),
    )
    body = build_create_body(change, None, LATTICE_SCIM)

    user = parse_user({**body, "id": "u_1"}, LATTICE_SCIM)

    read_back = {name: user.fields.get(name) for name in wanted}
    assert read_back == wanted
    assert (user.email, user.external_id, user.active) == ("ada@example.com", "1", True)
