"""Policies of the planner and the safety rules: other provisioners' users (sync.foreign_users),
reactivations (sync.reactivate), people in error (safety.max_errors) and contractors.
Pure core: plans computed from in-memory snapshots, no HTTP.
"""

from __future__ import annotations

import dataclasses

from reconciler.config import load_schema, parse_config
from reconciler.core.explain import Explanation, explain_person
from reconciler.core.model import (
    AttrValue,
    Config,
    Employee,
    FieldSetting,
    FieldValue,
    LatticeSettings,
    PersonioSettings,
    Plan,
    Problem,
    SafetySettings,
    SecretRef,
    SourceSnapshot,
    SyncSettings,
    TargetUser,
)
from reconciler.core.partial import compute_partial_plan
from reconciler.core.plan_document import compute_checksum
from reconciler.core.planner import ADOPTED_REASON, compute_plan, foreign_target_ids
from reconciler.core.safety import compute_violations, count_errors
from reconciler.sources.personio.profile import PERSONIO
from reconciler.starter import render_starter_config
from reconciler.targets.lattice.profile import LATTICE

OKTA_ID = "00u1a2b3c4d5e6f7g8h9"
ENTRA_ID = "4f1c2a9e-3b7d-4e0a-9c61-2d5b8e7f0a13"


def make_config(**sync: object) -> Config:
    return Config(
        personio=PersonioSettings(
            "https://api.personio.de/v1", SecretRef("PID"), SecretRef("PSECRET"), "test-app"
        ),
        lattice=LatticeSettings("https://api.latticehq.com/scim/v2", SecretRef("LTOKEN")),
        sync=SyncSettings(**sync),  # type: ignore[arg-type]
        fields=tuple(
            FieldSetting(name, name in ("title", "manager"), source)
            for name, source in PERSONIO.default_sources.items()
        ),
    )


def employee(source_id: str, **attributes: AttrValue) -> Employee:
    base: dict[str, AttrValue] = {
        "id": source_id,
        "email": f"p{source_id}@example.com",
        "first_name": f"First{source_id}",
        "last_name": "Example",
        "status": "active",
        "employment_type": "internal",
        "position": "Engineer",
    }
    base.update(attributes)
    return Employee(source_id, base)


def user(
    target_id: str,
    external_id: str | None,
    *,
    email: str,
    active: bool = True,
    first: str = "First1",
    **fields: FieldValue,
) -> TargetUser:
    values: dict[str, FieldValue] = {
        "first_name": first,
        "last_name": "Example",
        "title": "Engineer",
        "manager": None,
    }
    values.update(fields)
    return TargetUser(target_id, email, active, external_id, values)


def linked(target_id: str, source_id: str, **kwargs: object) -> TargetUser:
    """The user a sync of ``employee(source_id)`` left: linked and up to date."""
    return user(
        target_id,
        source_id,
        email=f"p{source_id}@example.com",
        first=f"First{source_id}",
        **kwargs,  # type: ignore[arg-type]
    )


def plan_for(
    employees: list[Employee], users: list[TargetUser], config: Config | None = None
) -> Plan:
    return compute_plan(
        SourceSnapshot(tuple(employees)),
        users,
        config or make_config(),
        source=PERSONIO,
        target=LATTICE,
    )


def codes(problems: tuple[Problem, ...]) -> list[tuple[str | None, str]]:
    return [(problem.source_id, problem.code) for problem in problems]


def actions(plan: Plan) -> list[tuple[str, str | None, str | None]]:
    return [(c.action.value, c.source_id, c.target_id) for c in plan.changes]


# ------------------------------------------------------------------ users of another provisioner


def test_a_user_is_foreign_when_its_external_id_is_not_of_the_personio_id_form() -> None:
    users = [
        user("u1", OKTA_ID, email="a@example.com"),
        user("u2", ENTRA_ID, email="b@example.com"),
        user("u3", "4711", email="c@example.com"),  # a Personio id, known or not
        user("u4", None, email="d@example.com"),  # never linked: not foreign
    ]
    assert foreign_target_ids(users, PERSONIO) == {"u1", "u2"}
    assert foreign_target_ids(users, dataclasses.replace(PERSONIO, id_pattern=None)) == set()


def test_by_default_another_provisioners_users_are_left_alone_with_one_summary_warning() -> None:
    users = [
        linked("u1", "1"),
        user("u2", OKTA_ID, email="okta@example.com"),
        user("u3", ENTRA_ID, email="entra@example.com", active=False),
        # Linked by us to someone no longer in Personio: still deactivated.
        linked("u4", "4"),
    ]
    plan = plan_for([employee("1")], users)

    assert actions(plan) == [("deactivate", "4", "u4")]
    assert plan.changes[0].reason == "unknown to Personio"
    assert codes(plan.warnings) == [(None, "foreign_users")]
    assert plan.warnings[0].message == (
        "2 Lattice users created by another provisioner left alone (sync.foreign_users: leave): "
        "their external id is not a Personio employee id; set sync.foreign_users: adopt to "
        "manage those whose email is a Personio employee's"
    )
    assert not plan.errors


def test_unmanaged_users_deactivate_does_not_reach_another_provisioners_users() -> None:
    users = [linked("u1", "1"), user("u2", OKTA_ID, email="okta@example.com")]
    plan = plan_for([employee("1")], users, make_config(unmanaged_users="deactivate"))
    assert plan.changes == ()


def test_leave_does_not_create_a_person_whose_email_another_provisioner_holds() -> None:
    users = [linked("u1", "1"), user("u2", OKTA_ID, email="P2@example.com", first="First2")]
    plan = plan_for([employee("1"), employee("2")], users)

    assert plan.changes == ()
    assert codes(plan.warnings) == [("2", "email_held_by_foreign_user"), (None, "foreign_users")]
    assert "set sync.foreign_users: adopt to manage it" in plan.warnings[0].message
    assert not plan.errors  # a choice of the config, not a broken input


def test_adopt_manages_another_provisioners_user_by_email_without_rewriting_its_id() -> None:
    users = [
        linked("u1", "1"),
        user("u2", OKTA_ID, email="p2@example.com", first="First2", title="Intern"),
        user("u3", ENTRA_ID, email="p3@example.com", first="First3"),  # nothing to change
        user("u4", OKTA_ID + "x", email="nobody@example.com"),  # no employee has it
    ]
    plan = plan_for(
        [employee("1"), employee("2"), employee("3")], users, make_config(foreign_users="adopt")
    )

    # An update, not a link: Lattice keeps an externalId once set (docs/decisions.md).
    assert actions(plan) == [("update", "2", "u2")]
    (change,) = plan.changes
    assert [(f.name, f.before, f.after) for f in change.fields] == [("title", "Intern", "Engineer")]
    assert change.reason == ADOPTED_REASON
    assert plan.unchanged == 2
    assert codes(plan.warnings) == [(None, "foreign_users")]
    assert plan.warnings[0].message.startswith(
        "2 Lattice users created by another provisioner adopted by email and 1 left alone "
        "(sync.foreign_users: adopt)"
    )


def test_an_adopted_users_person_who_leaves_is_deactivated() -> None:
    users = [linked("u1", "1"), user("u2", OKTA_ID, email="p2@example.com", first="First2")]
    people = [employee("1"), employee("2", status="inactive")]
    plan = plan_for(people, users, make_config(foreign_users="adopt"))

    assert actions(plan) == [("deactivate", "2", "u2")]
    assert plan.changes[0].reason == f"left (status: inactive); {ADOPTED_REASON}"


def test_adopt_never_takes_a_user_for_someone_who_has_their_own() -> None:
    users = [
        user("u1", "1", email="old-p1@example.com"),
        user("u2", OKTA_ID, email="p1@example.com"),
    ]
    plan = plan_for([employee("1")], users, make_config(foreign_users="adopt"))

    assert plan.changes == ()
    assert codes(plan.errors) == [("1", "email_id_conflict")]
    assert "0 Lattice users created by another provisioner adopted" in plan.warnings[0].message


def test_adopt_leaves_an_address_two_employees_share_alone() -> None:
    users = [user("u2", OKTA_ID, email="shared@example.com")]
    people = [
        employee("1", email="shared@example.com"),
        employee("2", email="shared@example.com"),
    ]
    plan = plan_for(people, users, make_config(foreign_users="adopt"))

    assert plan.changes == ()
    assert {code for _, code in codes(plan.errors)} == {"duplicate_email"}
    assert "0 Lattice users created by another provisioner adopted" in plan.warnings[0].message


# ------------------------------------------------------------------ reactivations


def test_a_user_deactivated_by_hand_is_reactivated_by_default_with_its_reason() -> None:
    plan = plan_for([employee("1")], [linked("u1", "1", active=False, title="Intern")])

    assert actions(plan) == [("reactivate", "1", "u1")]
    assert plan.changes[0].reason == (
        "active in Personio, deactivated in Lattice (rehired, or deactivated by hand)"
    )


def test_reactivate_never_leaves_the_user_deactivated_and_unchanged_with_a_warning() -> None:
    users = [
        linked("u1", "1", active=False, title="Intern"),  # would be reactivated and updated
        user("u2", None, email="p2@example.com", first="First2", active=False),  # a link
        linked("u3", "3"),
    ]
    people = [employee("1"), employee("2"), employee("3")]
    plan = plan_for(people, users, make_config(reactivate="never"))

    assert plan.changes == ()
    assert plan.unchanged == 1
    assert codes(plan.warnings) == [("1", "reactivation_skipped"), ("2", "reactivation_skipped")]
    assert plan.warnings[0].message == (
        "employee 1 is active in Personio, but Lattice user u1 is deactivated; left deactivated "
        "and unchanged (sync.reactivate: never) — reactivate it in Lattice by hand if they "
        "should have access"
    )


# ------------------------------------------------------------------ people in error


def test_max_errors_counts_people_not_their_problems() -> None:
    errors = (
        Problem("1", "invalid_date", "employee 1: hire_date is not a date"),
        Problem("1", "email_claimed", "employee 1's email belongs to …"),
        Problem("1", "duplicate_email", "…"),
        Problem(None, "duplicate_email", "…", email="Shared@example.com"),
        Problem(None, "duplicate_email", "…", email="shared@example.com "),
        Problem(None, "unparsable_record", "an employee record has no id"),
        Problem(None, "unparsable_record", "an employee record has no id"),
    )
    plan = Plan(changes=(), unchanged=0, errors=errors, source_employees=20)

    assert count_errors(plan) == 4  # employee 1, the shared address, two records without id
    assert [v.rule for v in compute_violations(plan, SafetySettings())] == ["max_errors.percent"]
    assert compute_violations(plan, SafetySettings())[0].message.startswith(
        "4 people in error exceed safety.max_errors.percent = 10 % (4 of 20 Personio employees"
    )


def test_the_default_max_errors_passes_a_healthy_tenant_and_refuses_a_broken_export() -> None:
    def plan_with(people: int, in_error: int) -> Plan:
        errors = tuple(Problem(str(n), "invalid_date", "…") for n in range(in_error))
        return Plan(changes=(), unchanged=0, errors=errors, source_employees=people)

    policy = SafetySettings()
    assert compute_violations(plan_with(2_000, 5), policy) == ()
    assert compute_violations(plan_with(2_000, 200), policy) == ()
    assert compute_violations(plan_with(60, 6), policy) == ()
    refused = compute_violations(plan_with(2_000, 1_911), policy)
    assert [(v.rule, v.forceable) for v in refused] == [("max_errors.percent", True)]


# ------------------------------------------------------------------ contractors


def test_a_contractor_create_says_so_and_the_reason_is_not_checksummed() -> None:
    people = [employee("1"), employee("2", employment_type="external")]
    plan = plan_for(people, [])

    reasons = {change.source_id: change.reason for change in plan.changes}
    assert reasons == {
        "1": None,
        "2": "contractor (employment type: external): manager and title not managed",
    }
    assert {f.name for f in plan.changes[1].fields} == {"email", "first_name", "last_name"}
    silent = dataclasses.replace(
        plan, changes=tuple(dataclasses.replace(c, reason=None) for c in plan.changes)
    )
    assert compute_checksum(silent) == compute_checksum(plan)


def test_a_contractor_reason_names_only_the_fields_the_config_manages() -> None:
    config = make_config()
    config = dataclasses.replace(
        config,
        fields=tuple(
            dataclasses.replace(setting, enabled=setting.name == "title")
            for setting in config.fields
        ),
    )
    plan = plan_for([employee("2", employment_type="external")], [], config)
    assert plan.changes[0].reason == "contractor (employment type: external): title not managed"


def test_a_converted_contractor_whose_user_holds_the_synced_title_and_manager_is_warned() -> None:
    people = [
        employee("1"),
        employee("2", employment_type="external", supervisor="1"),  # converted
        employee("3", employment_type="external"),  # title set by hand in Lattice
        employee("4", employment_type="external"),  # nothing held
        employee("5", supervisor="1"),  # an employee: managed as ever
    ]
    users = [
        linked("u1", "1"),
        linked("u2", "2", manager="u1"),
        linked("u3", "3", title="Freelance Designer"),
        linked("u4", "4", title=None),
        linked("u5", "5", manager="u1"),
    ]
    plan = plan_for(people, users)

    assert plan.changes == ()
    assert codes(plan.warnings) == [("2", "became_contractor")]
    assert plan.warnings[0].message == (
        "employee 2 is a contractor (employment type: external): manager and title stop being "
        "managed — Lattice keeps the values synced while they were an employee; change them in "
        "Lattice by hand"
    )


# ------------------------------------------------------------------ config


MINIMAL = """\
version: 1
personio: {client_id: env:PERSONIO_ID, client_secret: env:PERSONIO_SECRET, app_id: test}
lattice: {token: env:LATTICE_TOKEN}
"""


def test_the_policies_default_to_leave_and_always_in_the_model_the_loader_and_the_schema() -> None:
    sync = load_schema()["properties"]["sync"]["properties"]
    loaded = parse_config(MINIMAL, "minimal.yaml").sync
    assert (loaded.foreign_users, loaded.reactivate) == ("leave", "always")
    assert (SyncSettings().foreign_users, SyncSettings().reactivate) == ("leave", "always")
    assert (sync["foreign_users"]["default"], sync["reactivate"]["default"]) == ("leave", "always")


def test_the_policies_are_read_from_the_file() -> None:
    text = MINIMAL + "sync: {foreign_users: adopt, reactivate: never}\n"
    loaded = parse_config(text, "policies.yaml").sync
    assert (loaded.foreign_users, loaded.reactivate) == ("adopt", "never")


# ------------------------------------------------------------------ explain


def explain(
    query: str, people: list[Employee], users: list[TargetUser], config: Config
) -> Explanation | None:
    plan = plan_for(people, users, config)
    return explain_person(
        query,
        SourceSnapshot(tuple(people)),
        tuple(users),
        config,
        plan,
        source=PERSONIO,
        target=LATTICE,
    )


def test_explain_tells_an_adopted_user_from_one_left_alone() -> None:
    people = [employee("2")]
    users = [user("u2", OKTA_ID, email="p2@example.com", first="First2")]

    adopted = explain("2", people, users, make_config(foreign_users="adopt"))
    left = explain("2", people, users, make_config())
    assert adopted is not None
    assert left is not None

    assert adopted.target_id == "u2"
    assert adopted.matching == (
        f"by email: Lattice user u2 has this email and was created by another provisioner "
        f"(external id {OKTA_ID}): adopted, matched by email every run (sync.foreign_users: adopt)",
    )
    assert left.target_id is None
    assert left.matching[0].endswith("left alone (sync.foreign_users: leave)")
    assert [p.code for p in left.warnings] == ["email_held_by_foreign_user"]


def test_explain_says_another_provisioners_user_is_left_alone_not_deactivated() -> None:
    users = [user("u9", OKTA_ID, email="okta.only@example.com")]
    story = explain("okta.only@example.com", [employee("1")], users, make_config())
    assert story is not None

    assert story.scope_rule == (
        f"not in Personio: created by another provisioner (external id {OKTA_ID} is not a "
        "Personio id); left alone (sync.foreign_users: leave)"
    )
    assert story.change is None


def test_the_starter_config_writes_both_policies_and_reads_them_back() -> None:
    text = render_starter_config(
        [],
        personio_base_url="https://api.personio.de/v1",
        app_id="test",
        sync=SyncSettings(foreign_users="adopt", reactivate="never"),
    )
    assert "  foreign_users: adopt" in text
    assert "  reactivate: never" in text
    loaded = parse_config(text, "starter.yaml").sync
    assert (loaded.foreign_users, loaded.reactivate) == ("adopt", "never")


def fast_plan(employees: list[Employee], found: list[TargetUser], config: Config) -> Plan:
    return compute_partial_plan(
        SourceSnapshot(tuple(employees)),
        found,
        config,
        source=PERSONIO,
        target=LATTICE,
        target_population=100,
    )


def test_a_fast_run_names_contractor_creates_and_honours_reactivate_never() -> None:
    people = [employee("2", employment_type="external"), employee("3")]
    found = [linked("u3", "3", active=False)]

    plan = fast_plan(people, found, make_config(reactivate="never"))

    assert actions(plan) == [("create", "2", None)]
    assert plan.changes[0].reason == (
        "contractor (employment type: external): manager and title not managed"
    )
    assert codes(plan.warnings) == [("3", "reactivation_skipped")]
