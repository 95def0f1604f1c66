"""Names as Lattice keeps them: parts null, the full name only in ``name.formatted``.

A user parsed from such a resource must not be planned for an update every run (a three-word
name cannot be split back into parts), and every name change must carry both parts so the
writer can send ``name.formatted`` with it (docs/decisions.md, "Lattice names").
"""

from __future__ import annotations

from typing import Any

from reconciler.core.model import (
    AttrValue,
    Config,
    Employee,
    FieldChange,
    FieldSetting,
    LatticeSettings,
    PersonioSettings,
    Plan,
    SecretRef,
    SourceSnapshot,
    SyncSettings,
    TargetUser,
)
from reconciler.core.planner import compute_plan
from reconciler.sources.personio.profile import PERSONIO
from reconciler.targets.lattice.profile import LATTICE, LATTICE_SCIM
from reconciler.targets.scim.resources import build_patch_body, parse_user


def config() -> Config:
    return Config(
        personio=PersonioSettings(
            "https://api.personio.de/v1", SecretRef("PID"), SecretRef("PSECRET"), "TEST_APP"
        ),
        lattice=LatticeSettings("https://api.latticehq.com/scim/v2", SecretRef("LTOKEN")),
        sync=SyncSettings(),
        fields=tuple(
            FieldSetting(name, name == "title", source)
            for name, source in PERSONIO.default_sources.items()
        ),
    )


def employee(first: str, last: str, title: str = "Engineer") -> Employee:
    attributes: dict[str, AttrValue] = {
        "id": "7",
        "email": "mary@example.com",
        "first_name": first,
        "last_name": last,
        "status": "active",
        "employment_type": "internal",
        "position": title,
    }
    return Employee("7", attributes)


def lattice_user(
    formatted: str, *, given: str | None = None, family: str | None = None
) -> TargetUser:
    """A user as Lattice's own example shows one: givenName/familyName null by default."""
    resource: dict[str, Any] = {
        "id": "u_7",
        "externalId": "7",
        "userName": "mary@example.com",
        "active": True,
        "title": "Engineer",
        "name": {"givenName": given, "familyName": family, "formatted": formatted},
    }
    return parse_user(resource, LATTICE_SCIM)


def plan(person: Employee, user: TargetUser) -> Plan:
    return compute_plan(
        SourceSnapshot((person,), ()), [user], config(), source=PERSONIO, target=LATTICE
    )


def test_a_three_word_name_with_null_parts_is_unchanged_when_the_full_name_matches() -> None:
    result = plan(employee("Mary Ann", "Smith"), lattice_user("Mary Ann Smith"))
    assert result.changes == ()
    assert result.unchanged == 1


def test_the_full_name_comparison_ignores_only_repeated_whitespace() -> None:
    assert plan(employee("Mary Ann", "Smith"), lattice_user(" Mary  Ann Smith")).changes == ()
    changed = plan(employee("Mary Ann", "Smith"), lattice_user("Mary Ann Smyth"))
    assert [field.name for field in changed.changes[0].fields] == ["first_name", "last_name"]


def test_a_rename_of_a_user_with_null_parts_carries_both_parts_and_the_full_name() -> None:
    result = plan(employee("Mary Ann", "Jones"), lattice_user("Mary Ann Smith"))
    (change,) = result.changes
    assert change.fields == (
        FieldChange("first_name", None, "Mary Ann"),
        FieldChange("last_name", None, "Jones"),
    )
    body = build_patch_body(change, None, LATTICE_SCIM)
    assert body["Operations"] == [
        {
            "op": "replace",
            "value": {
                "name": {
                    "givenName": "Mary Ann",
                    "familyName": "Jones",
                    "formatted": "Mary Ann Jones",
                }
            },
        }
    ]


def test_a_single_part_rename_also_sends_the_full_name() -> None:
    """Known parts, only the family name changes: the given name is carried, unchanged."""
    user = lattice_user("Ada Lovelace", given="Ada", family="Lovelace")
    (change,) = plan(employee("Ada", "King"), user).changes
    assert change.fields == (
        FieldChange("first_name", "Ada", "Ada"),
        FieldChange("last_name", "Lovelace", "King"),
    )
    (operation,) = build_patch_body(change, None, LATTICE_SCIM)["Operations"]  # type: ignore[misc]
    assert operation["value"]["name"]["formatted"] == "Ada King"


def test_a_retitle_alone_does_not_touch_the_name() -> None:
    (change,) = plan(employee("Mary Ann", "Smith", "CTO"), lattice_user("Mary Ann Smith")).changes
    assert change.fields == (FieldChange("title", "Engineer", "CTO"),)
