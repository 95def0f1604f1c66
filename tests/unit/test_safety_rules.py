"""The safety rules as a registry: one rule per limit, the --force gate, and the settings, schema
and config loader kept in step with the rules. Imports the pure core, the config loader and yaml.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.config import load_schema, parse_config
from reconciler.core.model import (
    Action,
    Change,
    FieldChange,
    Plan,
    Problem,
    SafetySettings,
    Threshold,
)
from reconciler.core.safety import (
    RULES,
    SOURCE_EMPLOYEES,
    ChangesOf,
    MinSourceEmployees,
    ThresholdRule,
    Verdict,
    Violation,
    compute_violations,
    gate,
    register_rule,
    unregister_rule,
)
from reconciler.errors import ConfigError

MINIMAL = """\
version: 1
personio:
  client_id: env:PERSONIO_CLIENT_ID
  client_secret: env:PERSONIO_CLIENT_SECRET
  app_id: acme-test
lattice:
  token: env:LATTICE_SCIM_TOKEN
"""


def plan_of(counts: dict[Action, int], *, target: int, source: int = 100, errors: int = 0) -> Plan:
    changes = tuple(
        Change(
            action,
            f"{action.value}-{n}",
            None if action is Action.CREATE else f"u-{action.value}-{n}",
            f"{action.value}{n}@example.com",
        )
        for action, count in counts.items()
        for n in range(count)
    )
    problems = tuple(
        Problem(str(n), "duplicate_email", f"employee {n}: duplicate email") for n in range(errors)
    )
    return Plan(
        changes=changes,
        unchanged=0,
        errors=problems,
        source_employees=source,
        target_users=target,
    )


def threshold_settings() -> list[str]:
    defaults = SafetySettings()
    return [
        setting.name
        for setting in dataclasses.fields(SafetySettings)
        if isinstance(getattr(defaults, setting.name), Threshold)
    ]


def every_limit(limit: Threshold, **others: int) -> SafetySettings:
    """The default settings with every threshold set to ``limit``."""
    changes: dict[str, Any] = {**dict.fromkeys(threshold_settings(), limit), **others}
    return dataclasses.replace(SafetySettings(), **changes)


def rules_of(violations: tuple[Violation, ...]) -> list[str]:
    return [violation.rule for violation in violations]


# ---------------------------------------------------------------------------------------------
# A rule added through the registry alone
# ---------------------------------------------------------------------------------------------

FIELD_CHANGES_LIMIT = Threshold(count=3)


@dataclasses.dataclass(frozen=True, slots=True)
class WithFieldChangeLimit(SafetySettings):
    """The one settings field a new threshold rule needs (in the product: on SafetySettings)."""

    max_field_changes: Threshold = FIELD_CHANGES_LIMIT


def count_field_changes(plan: Plan) -> int:
    return sum(len(change.fields) for change in plan.changes)


@dataclasses.dataclass(frozen=True, slots=True)
class NoDeactivationOf:
    """A rule that is not a threshold: never deactivate one named Lattice user."""

    target_id: str
    name: str = "never_deactivate"

    def check(self, plan: Plan, policy: SafetySettings) -> tuple[Violation, ...]:
        return tuple(
            Violation(
                self.name,
                f"the plan deactivates Lattice user {change.target_id} — remove it from the plan",
                forceable=False,
            )
            for change in plan.changes
            if change.action is Action.DEACTIVATE and change.target_id == self.target_id
        )


@pytest.fixture
def field_change_rule() -> Iterator[ThresholdRule]:
    rule = ThresholdRule("max_field_changes", "field change", count_field_changes)
    register_rule(rule)
    yield rule
    unregister_rule(rule.name)


def updating(fields_each: int, people: int) -> Plan:
    changes = tuple(
        Change(
            Action.UPDATE,
            str(n),
            f"u{n}",
            f"u{n}@example.com",
            tuple(FieldChange(f"custom:F{k}", "a", "b") for k in range(fields_each)),
        )
        for n in range(people)
    )
    return Plan(changes=changes, unchanged=100, source_employees=102, target_users=102)


@pytest.mark.usefixtures("field_change_rule")
def test_a_threshold_rule_registered_from_outside_is_checked_with_the_others() -> None:
    plan = updating(fields_each=2, people=2)  # 4 field changes > 3

    assert compute_violations(plan, WithFieldChangeLimit()) == (
        Violation(
            "max_field_changes.count",
            "4 field changes exceed safety.max_field_changes.count = 3 (4 of 102 active Lattice "
            "users, 3.9 %) — review the plan, then re-run with --force or raise "
            "safety.max_field_changes.count",
            forceable=True,
        ),
    )
    assert compute_violations(updating(fields_each=3, people=1), WithFieldChangeLimit()) == ()


def test_an_unregistered_rule_is_no_longer_checked(field_change_rule: ThresholdRule) -> None:
    unregister_rule(field_change_rule.name)
    try:
        assert compute_violations(updating(2, 2), WithFieldChangeLimit()) == ()
    finally:
        register_rule(field_change_rule)


def test_a_rule_of_any_shape_can_be_registered_and_its_violations_come_last() -> None:
    rule = register_rule(NoDeactivationOf("u-deactivate-0"))
    try:
        plan = plan_of({Action.DEACTIVATE: 12}, target=240)
        assert rules_of(compute_violations(plan, SafetySettings())) == [
            "max_deactivations.count",
            "never_deactivate",
        ]
    finally:
        unregister_rule(rule.name)
    assert rules_of(compute_violations(plan, SafetySettings())) == ["max_deactivations.count"]


def test_rule_names_are_unique_and_unknown_names_cannot_be_removed() -> None:
    with pytest.raises(ValueError, match="'max_creates' is already registered"):
        register_rule(ThresholdRule("max_creates", "creation", ChangesOf(Action.CREATE)))
    with pytest.raises(KeyError):
        unregister_rule("max_nothing")


def test_a_threshold_rule_without_its_settings_field_says_which_field() -> None:
    rule = ThresholdRule("max_field_changes", "field change", count_field_changes)

    with pytest.raises(TypeError, match=r"safety\.max_field_changes is not a Threshold"):
        compute_violations(updating(1, 1), SafetySettings(), rules=[rule])


def test_an_explicit_rule_list_replaces_the_registry() -> None:
    plan = plan_of({Action.DEACTIVATE: 240}, target=240, source=0)

    assert rules_of(compute_violations(plan, SafetySettings(), rules=[MinSourceEmployees()])) == [
        "min_source_employees"
    ]
    assert compute_violations(plan, SafetySettings(), rules=()) == ()


# ---------------------------------------------------------------------------------------------
# The gate
# ---------------------------------------------------------------------------------------------

SOFT = Violation("max_creates.count", "201 creations exceed …", forceable=True)
SOFTER = Violation("max_creates.percent", "201 creations exceed …", forceable=True)
HARD = Violation("min_source_employees", "Personio returned 0 employees …", forceable=False)


@pytest.mark.parametrize("force", [False, True])
def test_no_violation_is_allowed_with_or_without_force(force: bool) -> None:
    assert gate((), force) == Verdict(allowed=True, blocking=(), overridden=())


def test_forceable_violations_block_without_force() -> None:
    verdict = gate([SOFT, SOFTER], force=False)

    assert verdict == Verdict(allowed=False, blocking=(SOFT, SOFTER), overridden=())
    assert verdict.forceable


def test_force_waves_forceable_violations_through() -> None:
    assert gate([SOFT, SOFTER], force=True) == Verdict(
        allowed=True, blocking=(), overridden=(SOFT, SOFTER)
    )


@pytest.mark.parametrize("force", [False, True])
def test_an_unforceable_violation_blocks_even_with_force(force: bool) -> None:
    verdict = gate([HARD, SOFT], force=force)

    assert not verdict.allowed
    assert verdict.blocking == ((HARD,) if force else (HARD, SOFT))
    assert verdict.overridden == ((SOFT,) if force else ())
    assert not verdict.forceable


def test_the_verdict_is_frozen() -> None:
    verdict = gate([SOFT], force=False)

    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.allowed = True  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# A limit for every kind of change, and for errors
# ---------------------------------------------------------------------------------------------


def test_reactivating_a_third_of_the_company_is_refused() -> None:
    # ``inactive`` added to sync.statuses: every leaver in Lattice comes back.
    plan = plan_of({Action.REACTIVATE: 85}, target=240)

    assert compute_violations(plan, SafetySettings()) == (
        Violation(
            "max_reactivations.count",
            "85 reactivations exceed safety.max_reactivations.count = 10 (85 of 240 active "
            "Lattice users, 35.4 %) — review the plan, then re-run with --force or raise "
            "safety.max_reactivations.count",
            forceable=True,
        ),
        Violation(
            "max_reactivations.percent",
            "85 reactivations exceed safety.max_reactivations.percent = 5 % (85 of 240 active "
            "Lattice users, 35.4 %) — review the plan, then re-run with --force or raise "
            "safety.max_reactivations.percent",
            forceable=True,
        ),
    )


def test_creating_everyone_in_a_lattice_that_has_users_is_refused() -> None:
    # The config points at the wrong Lattice: nobody matches, everyone is created.
    plan = plan_of({Action.CREATE: 200}, target=40)

    assert rules_of(compute_violations(plan, SafetySettings())) == [
        "max_creates.count",
        "max_creates.percent",
    ]
    assert compute_violations(plan, SafetySettings())[0].message == (
        "200 creations exceed safety.max_creates.count = 50 (200 of 40 active Lattice users, "
        "500.0 %) — review the plan, then re-run with --force or raise safety.max_creates.count"
    )


@pytest.mark.parametrize("target", [0, 1, 9])
def test_an_initial_load_into_a_nearly_empty_lattice_passes(target: int) -> None:
    plan = plan_of({Action.CREATE: 2_000, Action.LINK: target}, target=target, source=2_000)

    assert compute_violations(plan, SafetySettings()) == ()


def test_a_large_companys_onboarding_day_passes() -> None:
    plan = plan_of({Action.CREATE: 50}, target=2_000, source=2_050)

    assert compute_violations(plan, SafetySettings()) == ()


def test_adopting_most_of_an_established_lattice_is_refused_by_share_only() -> None:
    adopted = plan_of({Action.LINK: 200}, target=240)
    routine = plan_of({Action.LINK: 200}, target=10_000)  # 2 %: no count limit by default

    assert rules_of(compute_violations(adopted, SafetySettings())) == ["max_links.percent"]
    assert compute_violations(routine, SafetySettings()) == ()


def test_most_people_in_error_refuses_the_plan_as_a_share_of_personio_employees() -> None:
    plan = plan_of({Action.UPDATE: 3}, target=80, source=2_000, errors=1_911)

    assert compute_violations(plan, SafetySettings()) == (
        Violation(
            "max_errors.percent",
            "1911 people in error exceed safety.max_errors.percent = 10 % (1911 of 2000 Personio "
            "employees, 95.5 %) — fix them in Personio (the plan lists them), or re-run with "
            "--force or raise safety.max_errors.percent",
            forceable=True,
        ),
    )


def test_errors_are_measured_against_personio_not_lattice() -> None:
    # An initial load: Lattice is empty, but 2,000 people came from Personio.
    initial_load = plan_of({Action.CREATE: 89}, target=0, source=2_000, errors=1_911)
    few = plan_of({Action.CREATE: 3}, target=0, source=60, errors=2)

    assert rules_of(compute_violations(initial_load, SafetySettings())) == ["max_errors.percent"]
    assert compute_violations(few, SafetySettings()) == ()


def test_errors_are_not_refused_below_the_minimum_population_of_employees() -> None:
    plan = plan_of({}, target=0, source=9, errors=9)

    assert compute_violations(plan, SafetySettings()) == ()
    assert rules_of(compute_violations(plan, SafetySettings(min_population=9))) == [
        "max_errors.percent"
    ]


def test_an_error_count_limit_can_be_configured() -> None:
    plan = plan_of({}, target=0, source=2_000, errors=21)
    policy = SafetySettings(max_errors=Threshold(count=20))

    assert compute_violations(plan, policy)[0].message.startswith(
        "21 people in error exceed safety.max_errors.count = 20 "
        "(21 of 2000 Personio employees, 1.1 %)"
    )


def test_every_kind_of_change_is_counted_by_its_own_rule_only() -> None:
    policy = every_limit(Threshold(count=0), min_population=0)
    for action, rule in [
        (Action.CREATE, "max_creates.count"),
        (Action.LINK, "max_links.count"),
        (Action.REACTIVATE, "max_reactivations.count"),
        (Action.UPDATE, "max_updates.count"),
        (Action.DEACTIVATE, "max_deactivations.count"),
    ]:
        assert rules_of(compute_violations(plan_of({action: 1}, target=50), policy)) == [rule]
    assert rules_of(compute_violations(plan_of({}, target=50, errors=1), policy)) == [
        "max_errors.count"
    ]


def test_violations_are_listed_in_a_fixed_order_from_the_unforceable_one_on() -> None:
    policy = every_limit(Threshold(count=0), min_population=0, min_source_employees=200)
    plan = plan_of({action: 1 for action in Action}, target=50, errors=1)

    assert rules_of(compute_violations(plan, policy)) == [
        "min_source_employees",
        "max_errors.count",
        "max_deactivations.count",
        "max_reactivations.count",
        "max_creates.count",
        "max_links.count",
        "max_updates.count",
    ]


def test_every_message_is_one_line_naming_its_key_the_numbers_and_the_way_out() -> None:
    policy = every_limit(Threshold(count=0, percent=0), min_population=0, min_source_employees=500)
    plan = plan_of({action: 3 for action in Action}, target=50, source=400, errors=7)

    violations = compute_violations(plan, policy)

    assert len(violations) == 1 + 2 * 6
    for violation in violations:
        assert "\n" not in violation.message
        assert f"safety.{violation.rule}" in violation.message
        assert "--force" in violation.message or not violation.forceable
        assert any(
            figure in violation.message
            for figure in ("(3 of 50 active", "(7 of 400 Personio", "returned 400 ")
        )


# ---------------------------------------------------------------------------------------------
# Settings, rules, schema and loader in step
# ---------------------------------------------------------------------------------------------


def test_every_threshold_setting_is_read_by_exactly_one_registered_rule() -> None:
    read = sorted(rule.setting for rule in RULES if isinstance(rule, ThresholdRule))

    assert read == sorted(threshold_settings())
    assert [rule.population for rule in RULES if isinstance(rule, ThresholdRule)].count(
        SOURCE_EMPLOYEES
    ) == 1  # only max_errors is a share of Personio's employees


def test_the_schema_describes_exactly_the_safety_settings_with_their_defaults() -> None:
    schema = load_schema()["properties"]["safety"]
    defaults = SafetySettings()

    assert list(schema["properties"]) == [s.name for s in dataclasses.fields(SafetySettings)]
    for name, entry in schema["properties"].items():
        assert {"title", "description", "examples"} <= entry.keys(), name
        default = getattr(defaults, name)
        if isinstance(default, Threshold):
            assert entry["$ref"] == "#/$defs/threshold", name
            assert Threshold(**entry["default"]) == default, name
        else:
            assert entry["default"] == default, name
    assert schema["examples"][0] == {
        name: entry["default"] for name, entry in schema["properties"].items()
    }


def test_the_new_limits_load_from_the_config_and_replace_their_defaults_whole() -> None:
    text = MINIMAL + (
        "safety:\n"
        "  max_reactivations: {count: 2}\n"
        "  max_creates: {percent: 12.5}\n"
        "  max_links: {count: 0, percent: 0}\n"
        "  max_errors: {count: 20, percent: 10}\n"
    )

    safety = parse_config(text, "t.yaml").safety

    assert safety == dataclasses.replace(
        SafetySettings(),
        max_reactivations=Threshold(count=2),
        max_creates=Threshold(percent=12.5),
        max_links=Threshold(count=0, percent=0),
        max_errors=Threshold(count=20, percent=10),
    )


def test_a_config_without_a_safety_section_gets_the_default_settings() -> None:
    assert parse_config(MINIMAL, "t.yaml").safety == SafetySettings()


@pytest.mark.parametrize(
    ("line", "path", "message"),
    [
        ("max_create: {count: 5}", "safety.max_create", "did you mean 'max_creates'?"),
        ("max_errors: {count: -1}", "safety.max_errors.count", "must be at least 0"),
        ("max_links: {percent: 101}", "safety.max_links.percent", "must be at most 100"),
        ("max_reactivations: {count: 2.5}", "safety.max_reactivations.count", "whole number"),
        ("max_creates: {}", "safety.max_creates", "count, percent or both"),
    ],
)
def test_bad_safety_values_are_refused_where_they_are(line: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(MINIMAL + "safety:\n  " + line + "\n", "t.yaml")

    problems = caught.value.problems
    assert [problem.path for problem in problems] == [path]
    assert message in problems[0].message
