"""A German Personio tenant: labels in German, the birth date a custom attribute found by its
universal id (docs/decisions.md, 2026-12-02: Personio universal ids)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from reconciler import app
from reconciler.config import load_config
from reconciler.core.mapping import resolve_sources
from reconciler.core.model import AttributeInfo, Config, Employee
from reconciler.sandbox import sample_config_path
from reconciler.sandbox.company import BIRTHDAY_CUSTOM_KEY, as_tenant, generate_company
from reconciler.sandbox.scenario import build_sandbox
from reconciler.sources.personio.parse import parse_attribute_catalogue, parse_employee
from reconciler.sources.personio.profile import PERSONIO

if TYPE_CHECKING:
    from conftest import Kit


def test_the_birth_date_resolves_by_universal_id_whatever_the_key_and_label() -> None:
    catalogue = (
        AttributeInfo("first_name", "Vorname", "standard", "first_name"),
        AttributeInfo("dynamic_180883", "Geburtstag", "date", "date_of_birth"),
    )
    resolved = resolve_sources(sample_config(), catalogue + _rest(), PERSONIO)
    birth = next(setting for setting in resolved.fields if setting.name == "birth_date")
    assert birth.source == "dynamic_180883"


def sample_config() -> Config:
    return load_config(sample_config_path())


def _rest() -> tuple[AttributeInfo, ...]:
    # Everything else the sample config maps, from the German sandbox catalogue.
    company = as_tenant(generate_company(60), "de")
    return tuple(
        info
        for info in parse_attribute_catalogue({"data": list(company.attributes)})
        if info.key not in ("first_name", BIRTHDAY_CUSTOM_KEY)
    )


def test_a_record_without_a_type_takes_the_catalogues() -> None:
    raw = {
        "type": "Employee",
        "attributes": {
            "id": {"label": "ID", "value": 7, "universal_id": "id"},
            "dynamic_33400": {"label": "Jubiläum", "value": "2021-01-01T00:00:00+01:00"},
        },
    }
    parsed = parse_employee(raw, {"dynamic_33400": "date"})
    assert isinstance(parsed, Employee)
    assert parsed.attributes["dynamic_33400"] == dt.date(2021, 1, 1)


def test_a_german_tenant_sandbox_plan_carries_birthdates() -> None:
    box = build_sandbox(tenant="de")
    labels = {str(item["key"]): item["label"] for item in box.company.attributes}
    assert labels["first_name"] == "Vorname"
    assert labels[BIRTHDAY_CUSTOM_KEY] == "Geburtstag"
    assert "birthday" not in labels
    plan = app.plan(sample_config(), box.connections()).plan
    creates = [change for change in plan.changes if change.action == "create"]
    assert creates
    assert all(change.field("birth_date") is not None for change in creates)


def test_an_unknown_sandbox_tenant_is_one_line_and_an_empty_one_the_default(
    kit: Kit,
) -> None:
    refused = kit.run("plan", "--sandbox", "--no-progress", env={"RECONCILE_SANDBOX_TENANT": "fr"})
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: RECONCILE_SANDBOX_TENANT: unknown sandbox tenant 'fr' — use one of en, de, "
        "or unset the variable\n"
    )

    default = kit.run("plan", "--sandbox", "--no-progress", env={"RECONCILE_SANDBOX_TENANT": ""})
    assert default.exit_code == 0


@pytest.mark.parametrize("tenant", ["en", "de"])
def test_every_tenant_serves_the_birthday_only_as_its_custom_attribute(tenant: str) -> None:
    box = build_sandbox(tenant=tenant)
    by_key = {str(item["key"]): item for item in box.company.attributes}
    assert "birthday" not in by_key
    assert by_key[BIRTHDAY_CUSTOM_KEY]["universal_id"] == "date_of_birth"
    assert by_key[BIRTHDAY_CUSTOM_KEY]["type"] == "date"
    for raw in box.company.employees:
        attributes = raw["attributes"]
        assert isinstance(attributes, dict)
        assert "birthday" not in attributes
        assert attributes[BIRTHDAY_CUSTOM_KEY]["universal_id"] == "date_of_birth"


@pytest.mark.parametrize("tenant", ["en", "de"])
def test_the_sandbox_plan_carries_birthdates_and_prints_them_redacted(
    kit: Kit, tenant: str
) -> None:
    box = build_sandbox(tenant=tenant)
    plan = app.plan(sample_config(), box.connections()).plan
    births = [c.field("birth_date") for c in plan.changes if c.action == "create"]
    assert births
    assert all(field is not None and field.after for field in births)

    shown = kit.run(
        "plan", "--sandbox", "--no-progress", env={"RECONCILE_SANDBOX_TENANT": tenant}
    ).stdout
    assert "birth_date: (redacted)" in shown
    assert [value for value in kit.personal_values(box)["birthdates"] if value in shown] == []
