"""What a config change causes (core.cause): pure plans in, an attribution out."""

from __future__ import annotations

from reconciler.core.cause import annotate, attribute_causes, split_by_cause
from reconciler.core.model import Action, Change, FieldChange, Plan
from reconciler.core.plan_document import compute_checksum, plan_document


def _update(sid: str, *fields: FieldChange) -> Change:
    return Change(Action.UPDATE, sid, f"u{sid}", f"p{sid}@example.com", fields)


TITLE = FieldChange("title", "Analyst", "Lead")
DEPT = FieldChange("department", "A", "B")


def test_the_same_change_in_both_plans_is_data() -> None:
    plan = Plan(changes=(_update("1", DEPT),), unchanged=0)
    attribution = attribute_causes(plan, plan)
    assert [(c.cause, dict(c.fields)) for c in attribution.causes] == [
        ("data", {"department": "data"})
    ]
    assert attribution.prevented == ()


def test_a_change_the_baseline_lacks_is_config_and_a_field_it_lacks_too() -> None:
    baseline = Plan(changes=(_update("1", DEPT),), unchanged=1)
    proposed = Plan(changes=(_update("1", DEPT, TITLE), _update("2", TITLE)), unchanged=0)
    causes = attribute_causes(proposed, baseline).causes
    assert causes[0].cause == "data"
    assert dict(causes[0].fields) == {"department": "data", "title": "config"}
    assert causes[1].cause == "config"
    assert dict(causes[1].fields) == {"title": "config"}
    caused, pending = split_by_cause(annotate(proposed, baseline))
    assert [(c.source_id, [f.name for f in c.fields]) for c in caused] == [
        ("1", ["title"]),
        ("2", ["title"]),
    ]
    assert [(c.source_id, [f.name for f in c.fields]) for c in pending] == [("1", ["department"])]


def test_what_the_baseline_does_and_the_proposal_does_not_is_prevented() -> None:
    deactivate = Change(Action.DEACTIVATE, "3", "u3", "p3@example.com")
    baseline = Plan(changes=(_update("1", DEPT, TITLE), deactivate), unchanged=0)
    proposed = Plan(changes=(_update("1", DEPT),), unchanged=1)
    prevented = attribute_causes(proposed, baseline).prevented
    assert [(c.action, c.source_id, [f.name for f in c.fields]) for c in prevented] == [
        (Action.UPDATE, "1", ["title"]),
        (Action.DEACTIVATE, "3", []),
    ]


def test_a_different_action_for_the_same_person_is_config() -> None:
    baseline = Plan(changes=(Change(Action.DEACTIVATE, "3", "u3", "p3@example.com"),), unchanged=0)
    proposed = Plan(changes=(_update("3", TITLE),), unchanged=0)
    attribution = attribute_causes(proposed, baseline)
    assert attribution.causes[0].cause == "config"
    assert [c.action for c in attribution.prevented] == [Action.DEACTIVATE]


def test_causes_are_annotation_the_checksum_ignores() -> None:
    baseline = Plan(changes=(), unchanged=1)
    proposed = Plan(changes=(_update("1", TITLE),), unchanged=0)
    annotated = annotate(proposed, baseline)
    assert compute_checksum(annotated) == compute_checksum(proposed)
    document = plan_document(annotated)
    assert document["changes"] == [
        {
            "action": "update",
            "personio_id": "1",
            "lattice_id": "u1",
            "email": "p1@example.com",
            "fields": {"title": {"from": "Analyst", "to": "Lead", "cause": "config"}},
            "cause": "config",
        }
    ]
    assert document["prevented"] == []
    assert "prevented" not in plan_document(proposed)


def test_without_an_attribution_everything_is_pending() -> None:
    plan = Plan(changes=(_update("1", TITLE),), unchanged=0)
    assert split_by_cause(plan) == ((), plan.changes)
