"""The config loader: the example file, defaults, cross-field checks, secrets, located problems.
Uses real files and the real schema; no mocks.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from reconciler.config import (
    DEFAULT_LATTICE_BASE_URL,
    DEFAULT_PERSONIO_BASE_URL,
    Credentials,
    config_warnings,
    load_config,
    load_schema,
    parse_config,
    resolve_credentials,
    resolve_secret,
)
from reconciler.core.model import (
    STANDARD_FIELDS,
    Config,
    CustomAttribute,
    CustomType,
    FieldSetting,
    LatticeSettings,
    PersonioSettings,
    SafetySettings,
    SecretRef,
    SyncSettings,
    Threshold,
)
from reconciler.errors import ConfigError, ConfigProblem
from reconciler.sandbox import sample_config_path, sample_config_text
from reconciler.sources.personio.profile import PERSONIO as PERSONIO_PROFILE

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """\
version: 1
personio:
  client_id: env:PERSONIO_CLIENT_ID
  client_secret: env:PERSONIO_CLIENT_SECRET
  app_id: acme-lattice-sync
lattice:
  token: env:LATTICE_SCIM_TOKEN
"""

PERSONIO = PersonioSettings(
    base_url="https://api.personio.de/v1",
    client_id=SecretRef("PERSONIO_CLIENT_ID"),
    client_secret=SecretRef("PERSONIO_CLIENT_SECRET"),
    app_id="acme-lattice-sync",
)
LATTICE = LatticeSettings(
    base_url="https://api.latticehq.com/scim/v2",
    token=SecretRef("LATTICE_SCIM_TOKEN"),
    max_requests_per_second=5.0,
)
ALL_FIELDS_ON = (
    FieldSetting("preferred_name", True, "preferred_name"),
    FieldSetting("title", True, "position"),
    FieldSetting("start_date", True, "hire_date"),
    FieldSetting("department", True, "department"),
    FieldSetting("manager", True, "supervisor"),
    FieldSetting("birth_date", True, "birthday"),
    # opt-in fields stay off unless the file switches them on
    FieldSetting("gender", False, "gender"),
    FieldSetting("ethnicity", False, "Ethnicity"),
    FieldSetting("sexual_orientation", False, "Sexual orientation"),
)


def problems_of(text: str) -> tuple[ConfigProblem, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.yaml")
    return caught.value.problems


# ------------------------------------------------------------------------------ loading


def test_the_sample_config_loads_into_the_exact_expected_config() -> None:
    config = load_config(sample_config_path())

    assert config == Config(
        personio=replace(PERSONIO, app_id="ACME_LATTICE_SYNC"),
        lattice=LATTICE,
        sync=SyncSettings(
            employee_types=("internal", "external"),
            statuses=("active", "onboarding", "leave"),
            unmanaged_users="ignore",
            protected=frozenset({"it-admin@example.com"}),
        ),
        fields=ALL_FIELDS_ON,
        custom_attributes=(
            CustomAttribute("Cost center", "Cost Center", "text", False),
            CustomAttribute("T-shirt size", "Shirt Size", "text", False),
            CustomAttribute("dynamic_3456789", "Level", "number", False),
            CustomAttribute("Probation end", "Probation End", "date", False),
            CustomAttribute("Buddy", "Buddy", "user", False),
            CustomAttribute("Skills", "Skills", "multi_select", False),
            CustomAttribute("Salary band", "Salary Band", "text", True),
        ),
        safety=SafetySettings(
            max_deactivations=Threshold(count=10, percent=5.0),
            max_updates=Threshold(count=None, percent=30.0),
            min_population=10,
            min_source_employees=1,
        ),
        version=1,
    )


def test_the_sample_config_points_editors_at_the_packaged_schema() -> None:
    first_line = sample_config_text().splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=../schemas/integration.schema.json"
    schema = sample_config_path().parent / first_line.split("$schema=")[1]
    assert schema.samefile(ROOT / "reconciler" / "schemas" / "integration.schema.json")


def test_the_sample_config_text_is_the_file_at_its_path() -> None:
    assert sample_config_text() == sample_config_path().read_text(encoding="utf-8")
    assert sample_config_path().is_relative_to(ROOT / "reconciler" / "sandbox")


def test_minimal_config_gets_every_default() -> None:
    assert parse_config(MINIMAL, "minimal.yaml") == Config(
        personio=PERSONIO,
        lattice=LATTICE,
        sync=SyncSettings(
            employee_types=("internal", "external"),
            statuses=("active", "onboarding", "leave"),
            unmanaged_users="ignore",
            protected=frozenset(),
        ),
        fields=ALL_FIELDS_ON,
        custom_attributes=(),
        safety=SafetySettings(
            max_deactivations=Threshold(count=10, percent=5),
            max_updates=Threshold(percent=30),
            min_population=10,
            min_source_employees=1,
        ),
        version=1,
    )


def test_settings_written_in_the_file_replace_the_defaults() -> None:
    text = """\
version: 1
personio:
  base_url: http://localhost:8080/v1/
  client_id: env:PERSONIO_SANDBOX_ID
  client_secret: env:PERSONIO_SANDBOX_SECRET
  app_id: acme-test
  partner_id: acme
lattice:
  base_url: https://api.emea.latticehq.com/scim/v2/
  token: env:LATTICE_SANDBOX_TOKEN
  max_requests_per_second: 2.5
sync:
  employee_types: [external]
  statuses: [leave, active]
  unmanaged_users: deactivate
  protected: [IT-Admin@Example.COM, helpdesk@example.com]
fields:
  preferred_name: false
  title: {source: dynamic_7777777}
custom_attributes:
  - personio: Cost center
    lattice: Cost Center
safety:
  max_deactivations: {count: 3}
  max_updates: {count: 0, percent: 0}
  min_population: 0
  min_source_employees: 25
"""
    assert (
        parse_config(text, "custom.yaml")
        == Config(
            personio=PersonioSettings(
                base_url="http://localhost:8080/v1",
                client_id=SecretRef("PERSONIO_SANDBOX_ID"),
                client_secret=SecretRef("PERSONIO_SANDBOX_SECRET"),
                app_id="acme-test",
                partner_id="acme",
            ),
            lattice=LatticeSettings(
                base_url="https://api.emea.latticehq.com/scim/v2",
                token=SecretRef("LATTICE_SANDBOX_TOKEN"),
                max_requests_per_second=2.5,
            ),
            sync=SyncSettings(
                employee_types=("external",),
                statuses=("active", "leave"),  # canonical order, whatever the file says
                unmanaged_users="deactivate",
                protected=frozenset({"it-admin@example.com", "helpdesk@example.com"}),
            ),
            fields=(
                FieldSetting("preferred_name", False, "preferred_name"),
                FieldSetting("title", True, "dynamic_7777777"),
                *ALL_FIELDS_ON[2:],
            ),
            custom_attributes=(CustomAttribute("Cost center", "Cost Center", "text", False),),
            safety=SafetySettings(
                max_deactivations=Threshold(count=3, percent=None),  # replaces the default whole
                max_updates=Threshold(count=0, percent=0.0),
                min_population=0,
                min_source_employees=25,
            ),
            version=1,
        )
    )


def test_text_and_bytes_load_alike() -> None:
    assert parse_config(MINIMAL.encode("utf-8"), "a.yaml") == parse_config(MINIMAL, "b.yaml")


def test_anchors_and_merge_keys_are_not_mistaken_for_duplicate_keys() -> None:
    text = MINIMAL + (
        "safety:\n"
        "  max_deactivations: &strict {count: 5, percent: 5}\n"
        "  max_updates:\n"
        "    <<: *strict\n"
        "    percent: 20\n"
    )
    config = parse_config(text, "anchors.yaml")
    assert (config.safety.max_deactivations, config.safety.max_updates) == (
        Threshold(count=5, percent=5.0),
        Threshold(count=5, percent=20.0),
    )


# ------------------------------------------------------------------------------ the schema


def walk_properties(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Any]]:
    definitions = load_schema()["$defs"]
    for key, child in schema.get("properties", {}).items():
        yield f"{path}.{key}".lstrip("."), child
        target = definitions[child["$ref"].rsplit("/", 1)[-1]] if "$ref" in child else child
        yield from walk_properties(target, f"{path}.{key}")
        if isinstance(target.get("items"), dict):
            yield from walk_properties(target["items"], f"{path}.{key}[]")


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]


def test_every_key_in_the_schema_has_a_title_a_description_and_examples() -> None:
    keys = dict(walk_properties(load_schema()))
    undocumented = sorted(
        path
        for path, child in keys.items()
        if not (child.get("title") and child.get("description") and child.get("examples"))
    )
    assert len(keys) > 30
    assert undocumented == []


def test_every_example_in_the_schema_is_valid_against_its_key() -> None:
    schema = load_schema()
    validator = Draft202012Validator(schema)
    for path, child in walk_properties(schema):
        # Validate through the root so $refs resolve: wrap each example at its own position.
        for example in child["examples"]:
            subschema = {**child, "$defs": schema["$defs"]}
            errors = list(Draft202012Validator(subschema).iter_errors(example))
            assert errors == [], f"{path}: {example!r}"
    assert list(validator.iter_errors(schema["examples"][0])) == []


def test_schema_defaults_match_the_loader_and_model_defaults() -> None:
    properties = load_schema()["properties"]
    sync = properties["sync"]["properties"]
    safety = properties["safety"]["properties"]
    defaults = parse_config(MINIMAL, "minimal.yaml")
    assert {
        "personio.base_url": properties["personio"]["properties"]["base_url"]["default"],
        "lattice.base_url": properties["lattice"]["properties"]["base_url"]["default"],
        "lattice.max_requests_per_second": properties["lattice"]["properties"][
            "max_requests_per_second"
        ]["default"],
        "sync.employee_types": tuple(sync["employee_types"]["default"]),
        "sync.statuses": tuple(sync["statuses"]["default"]),
        "sync.unmanaged_users": sync["unmanaged_users"]["default"],
        "sync.protected": frozenset(sync["protected"]["default"]),
        "safety.max_deactivations": Threshold(**safety["max_deactivations"]["default"]),
        "safety.max_updates": Threshold(**safety["max_updates"]["default"]),
        "safety.min_population": safety["min_population"]["default"],
        "safety.min_source_employees": safety["min_source_employees"]["default"],
    } == {
        "personio.base_url": DEFAULT_PERSONIO_BASE_URL,
        "lattice.base_url": DEFAULT_LATTICE_BASE_URL,
        "lattice.max_requests_per_second": defaults.lattice.max_requests_per_second,
        "sync.employee_types": defaults.sync.employee_types,
        "sync.statuses": defaults.sync.statuses,
        "sync.unmanaged_users": defaults.sync.unmanaged_users,
        "sync.protected": defaults.sync.protected,
        "safety.max_deactivations": defaults.safety.max_deactivations,
        "safety.max_updates": defaults.safety.max_updates,
        "safety.min_population": defaults.safety.min_population,
        "safety.min_source_employees": defaults.safety.min_source_employees,
    }


def test_schema_names_exactly_the_model_fields_and_values() -> None:
    properties = load_schema()["properties"]
    sync = properties["sync"]["properties"]
    custom = properties["custom_attributes"]["items"]["properties"]
    assert tuple(properties["fields"]["properties"]) == tuple(STANDARD_FIELDS)
    assert tuple(sync["employee_types"]["items"]["enum"]) == PERSONIO_PROFILE.employment_types
    assert tuple(sync["statuses"]["items"]["enum"]) == PERSONIO_PROFILE.statuses
    assert tuple(custom["type"]["enum"]) == typing.get_args(CustomType)


# ------------------------------------------------------------------------------ problems


def test_three_problems_are_reported_at_once_with_their_lines() -> None:
    text = MINIMAL + (
        "sync:\n"
        "  employe_types: [internal]\n"
        "  statuses: [active, retired]\n"
        "safety:\n"
        "  max_updates: {percent: 130}\n"
    )
    assert problems_of(text) == (
        ConfigProblem("safety.max_updates.percent", "must be at most 100 (it is 130)", 12),
        ConfigProblem(
            "sync.employe_types", "unknown key 'employe_types' — did you mean 'employee_types'?", 9
        ),
        ConfigProblem(
            "sync.statuses[1]",
            "'retired' is not allowed — use one of: active, onboarding, leave, inactive",
            10,
        ),
    )


def test_config_error_prints_one_line_per_problem_prefixed_by_the_file() -> None:
    text = MINIMAL.replace("version: 1", "version: 2") + "sync: {unmanaged_users: delete}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "config/integration.yaml")
    assert str(caught.value).splitlines() == [
        "config/integration.yaml: sync.unmanaged_users (line 8): 'delete' is not allowed — "
        "use one of: ignore, deactivate",
        "config/integration.yaml: version (line 1): must be 1 (the only config format version "
        "this tool reads)",
    ]


def test_a_key_indented_at_the_wrong_level_is_pointed_to_its_section() -> None:
    assert problems_of(MINIMAL + "  unmanaged_users: ignore\n") == (
        ConfigProblem(
            "lattice.unmanaged_users", "unknown key 'unmanaged_users' — it belongs under 'sync'", 8
        ),
    )


def test_an_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    assert problems_of(MINIMAL + "sync: {frequency: nightly}\n") == (
        ConfigProblem(
            "sync.frequency",
            "unknown key 'frequency' — allowed here: employee_types, statuses, unmanaged_users, "
            "protected, foreign_users, reactivate",
            8,
        ),
    )


def test_a_missing_key_is_reported_where_it_belongs() -> None:
    text = MINIMAL.replace("  app_id: acme-lattice-sync\n", "")
    assert problems_of(text) == (
        ConfigProblem(
            "personio.app_id", "required key is missing — add app_id: ACME_LATTICE_SYNC", 2
        ),
    )


def test_duplicate_yaml_keys_are_reported_with_both_lines() -> None:
    text = MINIMAL + "sync:\n  statuses: [active]\n  statuses: [active, leave]\n"
    assert problems_of(text) == (
        ConfigProblem(
            "sync.statuses",
            "duplicate key 'statuses' (first on line 9) — YAML silently keeps only the last one; "
            "remove or merge one of them",
            10,
        ),
    )


def test_yaml_syntax_error_names_its_line_but_never_quotes_the_file() -> None:
    text = MINIMAL.replace(
        "env:PERSONIO_CLIENT_SECRET", "'sk_live_SENTINEL_123\n  app_id: acme-lattice-sync"
    )
    problems = problems_of(text)
    assert problems == (
        ConfigProblem(
            "",
            "the file is not valid YAML: found unexpected end of stream (while scanning a quoted "
            "scalar that starts on line 4)",
            9,
        ),
    )


@pytest.mark.parametrize(
    ("key", "variable"),
    [
        ("client_id", "PERSONIO_CLIENT_ID"),
        ("client_secret", "PERSONIO_CLIENT_SECRET"),
        ("token", "LATTICE_SCIM_TOKEN"),
    ],
)
def test_a_literal_secret_is_refused_without_repeating_it(key: str, variable: str) -> None:
    text = MINIMAL.replace(f"{key}: env:{variable}", f"{key}: sk_live_SENTINEL_123")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.yaml")
    (problem,) = caught.value.problems
    assert problem.message == (
        f"must be a reference like env:{variable}, never the secret itself — store the secret "
        "in an environment variable (or a CI secret) and reference it"
    )
    assert "SENTINEL" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_a_value_that_yaml_reads_as_a_date_is_explained() -> None:
    text = MINIMAL + "custom_attributes:\n  - {personio: 2024-01-31, lattice: Probation End}\n"
    assert problems_of(text) == (
        ConfigProblem(
            "custom_attributes[0].personio",
            "must be text, not a date — put it in quotes to keep it as text",
            9,
        ),
    )


# ------------------------------------------------------------------------------ cross-field checks


def test_one_lattice_attribute_mapped_twice_in_any_case_is_refused() -> None:
    text = MINIMAL + (
        "custom_attributes:\n"
        "  - {personio: Cost center, lattice: Cost Center}\n"
        "  - {personio: T-shirt size, lattice: Shirt Size}\n"
        "  - {personio: dynamic_2222222, lattice: COST CENTER}\n"
    )
    assert problems_of(text) == (
        ConfigProblem(
            "custom_attributes[2].lattice",
            "Lattice attribute 'COST CENTER' is already mapped by custom_attributes[0] — map each "
            "Lattice attribute once",
            11,
        ),
    )


def test_one_personio_attribute_may_feed_two_custom_attributes() -> None:
    text = MINIMAL + (
        "custom_attributes:\n"
        "  - {personio: Level, lattice: Level, type: number}\n"
        "  - {personio: Level, lattice: Level (text), type: text}\n"
    )
    assert [attr.lattice for attr in parse_config(text, "t.yaml").custom_attributes] == [
        "Level",
        "Level (text)",
    ]


def test_one_personio_attribute_feeding_two_standard_fields_is_refused() -> None:
    text = MINIMAL + "fields:\n  department: {source: Team}\n  title: {source: team}\n"
    assert problems_of(text) == (
        ConfigProblem(
            "fields.department.source",
            "Personio attribute 'Team' already feeds fields.title — each standard field needs "
            "its own source",
            9,
        ),
    )


def test_a_source_that_is_another_fields_default_is_refused_at_the_written_source() -> None:
    text = MINIMAL + "fields:\n  manager: {source: position}\n"
    assert problems_of(text) == (
        ConfigProblem(
            "fields.manager.source",
            "Personio attribute 'position' already feeds fields.title — each standard field "
            "needs its own source",
            9,
        ),
    )


def test_a_switched_off_field_frees_its_default_source() -> None:
    text = MINIMAL + "fields:\n  title: false\n  department: {source: position}\n"
    assert parse_config(text, "t.yaml").fields[1:4] == (
        FieldSetting("title", False, "position"),
        FieldSetting("start_date", True, "hire_date"),
        FieldSetting("department", True, "position"),
    )


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("Department", "use fields.department instead (e.g. fields.department: {source: X})"),
        ("job title", "use fields.title instead (e.g. fields.title: {source: X})"),
        ("Birthdate", "use fields.birth_date instead (e.g. fields.birth_date: {source: X})"),
        ("Gender", "use fields.gender instead (e.g. fields.gender: {source: X})"),
        ("Ethnicity", "use fields.ethnicity instead (e.g. fields.ethnicity: {source: X})"),
        (
            "Sexual Orientation",
            "use fields.sexual_orientation instead (e.g. fields.sexual_orientation: {source: X})",
        ),
        (
            "sexualOrientation",
            "use fields.sexual_orientation instead (e.g. fields.sexual_orientation: {source: X})",
        ),
        ("Email", "it is always synced, so remove this mapping"),
        ("First-Name", "it is always synced, so remove this mapping"),
    ],
)
def test_a_custom_attribute_named_like_a_standard_field_is_refused(name: str, fix: str) -> None:
    text = MINIMAL + f"custom_attributes:\n  - {{personio: X, lattice: {name}}}\n"
    assert problems_of(text) == (
        ConfigProblem(
            "custom_attributes[0].lattice",
            f"'{name}' is a standard Lattice field, not a custom attribute — {fix}",
            9,
        ),
    )


def test_gender_and_its_kind_are_off_unless_switched_on() -> None:
    text = MINIMAL + (
        "fields:\n  gender: true\n  ethnicity: {source: dynamic_5555555}\n"
        "  sexual_orientation: false\n"
    )
    fields = parse_config(text, "t.yaml").fields
    assert fields[6:] == (
        FieldSetting("gender", True, "gender"),
        FieldSetting("ethnicity", True, "dynamic_5555555"),
        FieldSetting("sexual_orientation", False, "Sexual orientation"),
    )
    assert parse_config(MINIMAL, "t.yaml").fields[6:] == ALL_FIELDS_ON[6:]
    assert not any(setting.enabled for setting in ALL_FIELDS_ON[6:])


def test_an_opt_in_field_fed_by_another_fields_source_is_refused() -> None:
    text = MINIMAL + "fields:\n  gender: {source: position}\n"
    assert problems_of(text) == (
        ConfigProblem(
            "fields.gender.source",
            "Personio attribute 'position' already feeds fields.title — each standard field "
            "needs its own source",
            9,
        ),
    )


def test_a_protected_entry_that_is_not_an_email_is_refused_without_repeating_it() -> None:
    text = MINIMAL + "sync:\n  protected:\n    - ada@example.com\n    - grace.hopper@example\n"
    problems = problems_of(text)
    assert problems == (
        ConfigProblem(
            "sync.protected[1]", "is not a valid email address — write it as name@domain.tld", 11
        ),
    )
    assert "grace" not in problems[0].message


def test_a_nan_threshold_is_refused() -> None:
    text = MINIMAL + "safety:\n  max_deactivations: {percent: .nan}\n"
    assert problems_of(text) == (
        ConfigProblem("safety.max_deactivations.percent", "must be a number, not .nan", 9),
    )


def test_zero_thresholds_are_allowed() -> None:
    text = MINIMAL + "safety:\n  max_deactivations: {count: 0, percent: 0}\n"
    assert parse_config(text, "t.yaml").safety.max_deactivations == Threshold(0, 0.0)


def test_cross_field_checks_wait_until_the_schema_passes() -> None:
    text = MINIMAL.replace("version: 1", "version: 3") + (
        "custom_attributes:\n"
        "  - {personio: A, lattice: Cost Center}\n"
        "  - {personio: B, lattice: Cost Center}\n"
    )
    assert [problem.path for problem in problems_of(text)] == ["version"]


# ------------------------------------------------------------------------------ files


def test_a_missing_file_is_reported_by_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert str(caught.value) == (
        f"{tmp_path / 'nope.yaml'}: file not found — create it (see "
        "config/integration.yaml for a complete, commented example) or pass --config PATH"
    )


def test_a_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.problems == (
        ConfigProblem("", "the file is a directory — pass the path of the YAML config file"),
    )


def test_an_oversized_file_is_refused_before_parsing() -> None:
    text = MINIMAL + "#" * 1_000_001
    assert problems_of(text) == (
        ConfigProblem("", "the file is too large for a config (over 1,000,000 bytes)"),
    )


# ------------------------------------------------------------------------------ secrets


ENVIRON = {
    "PERSONIO_CLIENT_ID": "papi-id-SENTINEL-1",
    "PERSONIO_CLIENT_SECRET": "papi-secret-SENTINEL-2\n",
    "LATTICE_SCIM_TOKEN": "lat-SENTINEL-3",
}


def test_a_set_secret_resolves_to_its_trimmed_value() -> None:
    ref = SecretRef("PERSONIO_CLIENT_SECRET")
    assert resolve_secret(ref, ENVIRON, "personio.client_secret") == "papi-secret-SENTINEL-2"


def test_an_unset_secret_names_the_variable_the_key_and_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_secret(
            SecretRef("PERSONIO_CLIENT_ID"),
            {},
            "personio.client_id",
            source="config/integration.yaml",
        )
    assert str(caught.value) == (
        "config/integration.yaml: personio.client_id: environment variable PERSONIO_CLIENT_ID "
        "is not set — export it, or set it as a repository secret in CI"
    )


def test_an_empty_secret_counts_as_unset() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_secret(SecretRef("LATTICE_SCIM_TOKEN"), {"LATTICE_SCIM_TOKEN": "  "})
    assert caught.value.problems == (
        ConfigProblem(
            "env:LATTICE_SCIM_TOKEN",
            "environment variable LATTICE_SCIM_TOKEN is empty — export it, or set it as a "
            "repository secret in CI",
        ),
    )


def test_credentials_report_every_unset_variable_and_never_a_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = parse_config(MINIMAL, "t.yaml")
    environ = {"PERSONIO_CLIENT_SECRET": ENVIRON["PERSONIO_CLIENT_SECRET"]}
    with pytest.raises(ConfigError) as caught:
        resolve_credentials(config, environ, source="t.yaml")
    assert [problem.path for problem in caught.value.problems] == [
        "personio.client_id",
        "lattice.token",
    ]
    assert "SENTINEL" not in str(caught.value)

    with caplog.at_level(logging.DEBUG, logger="reconciler.config"):
        credentials = resolve_credentials(config, ENVIRON)
    assert credentials == Credentials(
        "papi-id-SENTINEL-1", "papi-secret-SENTINEL-2", "lat-SENTINEL-3"
    )
    assert "SENTINEL" not in repr(credentials)
    assert "SENTINEL" not in caplog.text
    assert "PERSONIO_CLIENT_SECRET" in caplog.text


@pytest.mark.parametrize(
    ("app_id", "fix"),
    [
        ("acme-lattice-sync", "ACME_LATTICE_SYNC"),
        ("Lattice Sync", "LATTICE_SYNC"),
        ("lattice_sync_2", "LATTICE_SYNC_2"),
        ("--", "LATTICE_SYNC"),
        ("2fa", "LATTICE_SYNC"),
    ],
)
def test_an_app_id_that_is_not_upper_snake_case_is_warned_about_with_a_fix(
    app_id: str, fix: str
) -> None:
    config = parse_config(MINIMAL.replace("acme-lattice-sync", f"'{app_id}'"), "t.yaml")
    assert config_warnings(config) == (
        ConfigProblem(
            "personio.app_id",
            f"Personio expects X-Personio-App-ID in UPPER_SNAKE_CASE — write app_id: {fix}",
        ),
    )


@pytest.mark.parametrize("app_id", ["LATTICE_SYNC", "ACME", "HR2_LATTICE_V3"])
def test_an_upper_snake_case_app_id_has_no_warning(app_id: str) -> None:
    config = parse_config(MINIMAL.replace("acme-lattice-sync", app_id), "t.yaml")
    assert config_warnings(config) == ()
