"""SCIM parsing and bodies for services other than Lattice, described only by a ``ScimDialect``.
Also: case-insensitive attribute names, and full names when the name parts come back null."""

from __future__ import annotations

import logging

import pytest

from reconciler.core.model import FULL_NAME_FIELD, Action, Change, FieldChange, TargetUser
from reconciler.targets.lattice.profile import LATTICE_SCIM, LATTICE_URN
from reconciler.targets.scim.dialect import RFC7643_LOCATIONS, ScimDialect
from reconciler.targets.scim.resources import (
    CORE_URN,
    ENTERPRISE_URN,
    PATCH_OP_URN,
    RFC7643_DIALECT,
    build_create_body,
    build_patch_body,
    parse_user,
)

# An invented SCIM app: its own extension, the start date under another key, the department in
# a nested complex attribute of that extension, and no birth date at all.
ACME_URN = "urn:example:params:scim:schemas:extension:acme:2.0:User"
ACME = ScimDialect(
    name="Acme",
    system="acme",
    locations={
        "first_name": (None, ("name", "givenName")),
        "last_name": (None, ("name", "familyName")),
        "title": (None, ("title",)),
        "department": (ACME_URN, ("org", "department")),
        "manager": (ENTERPRISE_URN, ("manager",)),
        "start_date": (ACME_URN, ("hireDate",)),
    },
    auth_fix="create an API token under Acme › Settings › Provisioning",
    extension_urn=ACME_URN,
    standard_extension_keys={"hireDate": "start_date", "org": "department"},
)


def update(*fields: FieldChange) -> Change:
    return Change(Action.UPDATE, "1234", "u_42", "ada@example.com", fields)


# ---------------------------------------------------------------------------------------------
# A second SCIM app
# ---------------------------------------------------------------------------------------------


def test_an_invented_dialect_parses_its_own_extension() -> None:
    resource = {
        "id": "a-1",
        "userName": "ada@example.com",
        "externalId": "1234",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "title": "Engineer",
        ENTERPRISE_URN: {"manager": {"value": "a-7"}, "department": "ignored here"},
        ACME_URN: {"hireDate": "2021-03-01T09:00:00Z", "org": {"department": "R&D"}, "Desk": 12},
        # another vendor's extension means nothing to Acme
        LATTICE_URN: {"startDate": "1999-01-01", "Cost Center": "CC-1"},
    }
    assert parse_user(resource, ACME) == TargetUser(
        target_id="a-1",
        email="ada@example.com",
        active=True,
        external_id="1234",
        fields={
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "title": "Engineer",
            "department": "R&D",
            "manager": "a-7",
            "start_date": "2021-03-01",
            "custom:Desk": 12,
        },
    )


def test_an_invented_dialect_builds_a_create_body_under_its_own_extension() -> None:
    change = Change(
        Action.CREATE,
        "1234",
        None,
        "ada@example.com",
        (
            FieldChange("department", None, "R&D"),
            FieldChange("first_name", None, "Ada"),
            FieldChange("manager", None, "77"),
            FieldChange("start_date", None, "2021-03-01"),
            FieldChange("custom:Desk", None, 12),
        ),
    )
    assert build_create_body(change, "a-7", ACME) == {
        "schemas": [CORE_URN, ACME_URN, ENTERPRISE_URN],
        "externalId": "1234",
        "userName": "ada@example.com",
        "active": True,
        "emails": [{"value": "ada@example.com", "primary": True, "type": "work"}],
        "name": {"givenName": "Ada", "formatted": "Ada"},
        ACME_URN: {"org": {"department": "R&D"}, "hireDate": "2021-03-01", "Desk": 12},
        ENTERPRISE_URN: {"manager": {"value": "a-7"}},
    }


def test_an_invented_dialect_patches_and_removes_under_its_own_extension() -> None:
    change = update(
        FieldChange("custom:Dept. code", "D1", None),
        FieldChange("department", "R&D", None),
        FieldChange("start_date", None, "2021-03-01"),
    )
    assert build_patch_body(change, None, ACME) == {
        "schemas": [PATCH_OP_URN],
        "Operations": [
            # "Dept. code" is no valid SCIM path (RFC 7643 §2.1): cleared by a null instead
            {"op": "replace", "value": {ACME_URN: {"Dept. code": None, "hireDate": "2021-03-01"}}},
            # a nested path's dots are separators
            {"op": "remove", "path": f"{ACME_URN}:org.department"},
        ],
    }


def test_what_an_invented_dialect_writes_reads_back_the_same() -> None:
    change = Change(
        Action.CREATE,
        "1234",
        None,
        "ada@example.com",
        (
            FieldChange("department", None, "R&D"),
            FieldChange("first_name", None, "Ada"),
            FieldChange("last_name", None, "Lovelace"),
            FieldChange("start_date", None, "2021-03-01"),
            FieldChange("custom:Desk", None, 12),
        ),
    )
    user = parse_user({**build_create_body(change, None, ACME), "id": "a-1"}, ACME)
    assert {name: user.fields.get(name) for name in ("department", "start_date")} == {
        "department": "R&D",
        "start_date": "2021-03-01",
    }
    assert (user.fields["first_name"], user.fields["last_name"]) == ("Ada", "Lovelace")
    assert user.fields["custom:Desk"] == 12


def test_a_field_an_invented_dialect_does_not_locate_is_refused_by_its_name() -> None:
    with pytest.raises(ValueError, match="unknown Acme field 'birth_date'"):
        build_patch_body(update(FieldChange("birth_date", None, "1990-12-10")), None, ACME)


# ---------------------------------------------------------------------------------------------
# Plain RFC 7643: core and enterprise User only
# ---------------------------------------------------------------------------------------------


def test_a_plain_rfc7643_service_reads_core_and_enterprise_only() -> None:
    resource = {
        "id": "2819c223",
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "nickName": "Babs",
        "title": "Tour Guide",
        ENTERPRISE_URN: {"department": "Tour Operations", "manager": {"value": "26118915"}},
        LATTICE_URN: {"startDate": "2021-03-01", "Cost Center": "CC-1"},
    }
    assert parse_user(resource, RFC7643_DIALECT).fields == {
        "email": "bjensen@example.com",
        "first_name": "Barbara",
        "last_name": "Jensen",
        "preferred_name": "Babs",
        "title": "Tour Guide",
        "department": "Tour Operations",
        "manager": "26118915",
    }


def test_a_plain_rfc7643_service_gets_core_and_enterprise_bodies() -> None:
    change = Change(
        Action.CREATE,
        "9",
        None,
        "bjensen@example.com",
        (
            FieldChange("department", None, "Tour Operations"),
            FieldChange("first_name", None, "Barbara"),
            FieldChange("last_name", None, "Jensen"),
        ),
    )
    assert build_create_body(change, None, RFC7643_DIALECT) == {
        "schemas": [CORE_URN, ENTERPRISE_URN],
        "externalId": "9",
        "userName": "bjensen@example.com",
        "active": True,
        "emails": [{"value": "bjensen@example.com", "primary": True, "type": "work"}],
        "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Barbara Jensen"},
        ENTERPRISE_URN: {"department": "Tour Operations"},
    }
    assert build_patch_body(update(FieldChange("title", "A", None)), None, RFC7643_DIALECT) == {
        "schemas": [PATCH_OP_URN],
        "Operations": [{"op": "remove", "path": "title"}],
    }


@pytest.mark.parametrize(
    ("field", "message"),
    [("custom:Cost Center", "SCIM has no custom attributes"), ("start_date", "unknown SCIM")],
)
def test_a_plain_rfc7643_service_refuses_what_it_cannot_hold(field: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_patch_body(update(FieldChange(field, None, "x")), None, RFC7643_DIALECT)


# ---------------------------------------------------------------------------------------------
# Dialects are checked when they are made
# ---------------------------------------------------------------------------------------------


def test_the_lattice_dialect_announces_enterprise_then_lattice() -> None:
    assert LATTICE_SCIM.schema_extensions == (ENTERPRISE_URN, LATTICE_URN)
    assert RFC7643_DIALECT.schema_extensions == (ENTERPRISE_URN,)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"standard_extension_keys": {"hireDate": "birth_date"}}, "not where 'birth_date'"),
        ({"extension_urn": None}, "need an extension_urn"),
        ({"locations": {**RFC7643_LOCATIONS, "email": (None, ("userName",))}}, "'email'"),
        ({"locations": {"title": (None, ())}}, "empty path"),
        ({"locations": {"title": (CORE_URN, ("title",))}}, "urn None"),
    ],
)
def test_an_inconsistent_dialect_is_refused(changes: dict[str, object], message: str) -> None:
    options: dict[str, object] = {
        "name": "Acme",
        "system": "acme",
        "locations": {**ACME.locations},
        "auth_fix": "x",
        "extension_urn": ACME_URN,
        "standard_extension_keys": {"hireDate": "start_date"},
        **changes,
    }
    with pytest.raises(ValueError, match=message):
        ScimDialect(**options)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Attribute names are case-insensitive (RFC 7643 §2.1)
# ---------------------------------------------------------------------------------------------


def test_attribute_names_are_read_whatever_their_case() -> None:
    resource = {
        "ID": "u_1",
        "UserName": "ada@example.com",
        "ExternalID": "1234",
        "Active": False,
        "NAME": {"GIVENNAME": "Ada", "familyname": "Lovelace"},
        "Title": "Engineer",
        ENTERPRISE_URN.upper(): {"Department": "R&D", "Manager": {"Value": "u_7"}},
        LATTICE_URN.lower(): {
            "StartDate": "2021-03-01",
            "BIRTHDATE": "1990-12-10",
            "GENDER": "Male",
            "sexualorientation": "Heterosexual",
            "Team": "A",
        },
    }
    user = parse_user(resource, LATTICE_SCIM)
    assert (user.target_id, user.email, user.external_id, user.active) == (
        "u_1",
        "ada@example.com",
        "1234",
        False,
    )
    # startDate, birthDate, gender, sexualOrientation in any case are standard fields,
    # never custom attributes
    assert user.fields == {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "preferred_name": None,
        "title": "Engineer",
        "department": "R&D",
        "manager": "u_7",
        "start_date": "2021-03-01",
        "birth_date": "1990-12-10",
        "gender": "Male",
        "ethnicity": None,
        "sexual_orientation": "Heterosexual",
        "custom:Team": "A",
    }


def test_a_primary_email_is_found_whatever_the_case_of_its_keys() -> None:
    resource = {
        "id": "u_1",
        "Emails": [{"Value": "home@example.com"}, {"VALUE": "work@example.com", "Primary": True}],
    }
    assert parse_user(resource, LATTICE_SCIM).email == "work@example.com"


def test_the_exact_spelling_wins_and_key_order_does_not_matter() -> None:
    exact_first = {"id": "u_1", "userName": "a@example.com", "USERNAME": "b@example.com"}
    exact_last = {"USERNAME": "b@example.com", "id": "u_1", "userName": "a@example.com"}
    assert parse_user(exact_first, LATTICE_SCIM) == parse_user(exact_last, LATTICE_SCIM)
    assert parse_user(exact_first, LATTICE_SCIM).email == "a@example.com"
    # no exact spelling: the first variant in sorted order, whatever order the JSON had
    one = {"id": "u_1", "Username": "c@example.com", "USERNAME": "d@example.com"}
    other = {"id": "u_1", "USERNAME": "d@example.com", "Username": "c@example.com"}
    assert parse_user(one, LATTICE_SCIM).email == parse_user(other, LATTICE_SCIM).email


# ---------------------------------------------------------------------------------------------
# Full names: name parts that come back null, and renames
# ---------------------------------------------------------------------------------------------


def names(name: dict[str, object], dialect: ScimDialect = LATTICE_SCIM) -> dict[str, object]:
    fields = parse_user({"id": "u_1", "userName": "a@example.com", "name": name}, dialect).fields
    return {
        key: fields[key] for key in ("first_name", "last_name", FULL_NAME_FIELD) if key in fields
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # parts given: they win, the full name is not needed
        (
            {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Countess Ada"},
            {"first_name": "Ada", "last_name": "Lovelace"},
        ),
        # Lattice returns the parts as null: two words split one way only
        (
            {"givenName": None, "familyName": None, "formatted": "Ada Lovelace"},
            {"first_name": "Ada", "last_name": "Lovelace"},
        ),
        # one part known: the rest of the full name is the other
        (
            {"givenName": "Mary Ann", "formatted": "Mary Ann Smith"},
            {"first_name": "Mary Ann", "last_name": "Smith"},
        ),
        (
            {"familyName": "van der Berg", "formatted": "Jan van der Berg"},
            {"first_name": "Jan", "last_name": "van der Berg"},
        ),
        ({"givenName": "Cher", "formatted": "Cher"}, {"first_name": "Cher", "last_name": None}),
        # ambiguous: three words, one word, or a full name that disagrees with the known part
        (
            {"formatted": "Mary Ann Smith"},
            {"first_name": None, "last_name": None, FULL_NAME_FIELD: "Mary Ann Smith"},
        ),
        (
            {"formatted": "Cher"},
            {"first_name": None, "last_name": None, FULL_NAME_FIELD: "Cher"},
        ),
        (
            {"givenName": "Ada", "formatted": "Dr. Ada King"},
            {"first_name": "Ada", "last_name": None, FULL_NAME_FIELD: "Dr. Ada King"},
        ),
        # no full name: nothing to recover
        ({"givenName": "Ada"}, {"first_name": "Ada", "last_name": None}),
    ],
)
def test_null_name_parts_are_recovered_from_the_full_name_only_when_unambiguous(
    name: dict[str, object], expected: dict[str, object]
) -> None:
    assert names(name) == expected


def test_a_plain_rfc7643_service_never_splits_a_full_name() -> None:
    # RFC 7643 §4.1.1 leaves the order and content of formatted open (titles, middle names)
    assert names({"formatted": "Ada Lovelace"}, RFC7643_DIALECT) == {
        "first_name": None,
        "last_name": None,
        FULL_NAME_FIELD: "Ada Lovelace",
    }


def test_a_user_with_only_a_full_name_parses_the_same_every_time() -> None:
    resource = {"id": "u_1", "userName": "a@example.com", "name": {"formatted": "Mary Ann Smith"}}
    assert parse_user(resource, LATTICE_SCIM) == parse_user(dict(resource), LATTICE_SCIM)
    assert parse_user(resource, LATTICE_SCIM).fields == parse_user(resource, LATTICE_SCIM).fields


def test_a_rename_of_both_parts_rewrites_the_full_name() -> None:
    change = update(
        FieldChange("first_name", "Ada", "Augusta"), FieldChange("last_name", "Byron", "King")
    )
    assert build_patch_body(change, None, LATTICE_SCIM)["Operations"] == [
        {
            "op": "replace",
            "value": {
                "name": {"givenName": "Augusta", "familyName": "King", "formatted": "Augusta King"}
            },
        }
    ]


def test_a_rename_of_one_part_takes_the_other_from_the_current_fields() -> None:
    change = update(FieldChange("last_name", "Byron", "King"))
    current = {"first_name": "Ada", "last_name": "Byron", "title": "Countess"}
    assert build_patch_body(change, None, LATTICE_SCIM, current=current)["Operations"] == [
        {"op": "replace", "value": {"name": {"familyName": "King", "formatted": "Ada King"}}}
    ]


def test_removing_a_part_leaves_the_other_as_the_full_name() -> None:
    change = update(FieldChange("first_name", "Ada", None))
    current = {"first_name": "Ada", "last_name": "Lovelace"}
    assert build_patch_body(change, None, LATTICE_SCIM, current=current)["Operations"] == [
        {"op": "replace", "value": {"name": {"formatted": "Lovelace"}}},
        {"op": "remove", "path": "name.givenName"},
    ]


def test_removing_both_parts_removes_the_full_name() -> None:
    change = update(FieldChange("first_name", "Ada", None), FieldChange("last_name", "L", None))
    assert build_patch_body(change, None, LATTICE_SCIM)["Operations"] == [
        {"op": "remove", "path": "name.givenName"},
        {"op": "remove", "path": "name.familyName"},
        {"op": "remove", "path": "name.formatted"},
    ]


@pytest.mark.parametrize(
    "current",
    [
        None,
        # the last name parsed as None only because the full name was ambiguous: unknown
        {"first_name": None, "last_name": None, FULL_NAME_FIELD: "Ada King Byron"},
    ],
)
def test_a_rename_of_one_part_with_the_other_unknown_leaves_the_full_name_and_says_so(
    caplog: pytest.LogCaptureFixture, current: dict[str, object] | None
) -> None:
    change = update(FieldChange("first_name", "Ada", "Augusta"))
    with caplog.at_level(logging.WARNING, logger="reconciler.targets.scim.client"):
        body = build_patch_body(change, None, LATTICE_SCIM, current=current)  # type: ignore[arg-type]
    assert body["Operations"] == [{"op": "replace", "value": {"name": {"givenName": "Augusta"}}}]
    assert "name.formatted is left as it is" in caplog.text
    assert "u_42" in caplog.text
    assert "Augusta" not in caplog.text
    assert "Ada" not in caplog.text


def test_an_extension_key_holding_a_located_field_is_never_a_custom_attribute() -> None:
    undeclared = ScimDialect(
        name="Acme",
        system="acme",
        locations={"department": (ACME_URN, ("org", "department"))},
        auth_fix="x",
        extension_urn=ACME_URN,
    )
    resource = {"id": "a-1", "userName": "a@example.com", ACME_URN: {"org": {"department": "R"}}}
    assert parse_user(resource, undeclared).fields == {"email": "a@example.com", "department": "R"}
