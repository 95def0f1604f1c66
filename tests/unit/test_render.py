# ruff: noqa: E501 — golden outputs hold long lines exactly as rendered
"""Renderers: golden text, Markdown and JSON for a small plan and an apply report; redaction,
masking, escaping and the Markdown size cap."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import jsonschema
import pytest

from reconciler.core.model import (
    Action,
    ApplyReport,
    Change,
    ChangeResult,
    FieldChange,
    FieldValue,
    Outcome,
    Plan,
    Problem,
)
from reconciler.core.plan_document import compute_checksum
from reconciler.core.safety import Violation
from reconciler.render import (
    FORMATS,
    mask_email,
    render_json,
    render_markdown,
    render_report_json,
    render_report_markdown,
    render_report_summary,
    render_report_text,
    render_summary,
    render_text,
)

SCHEMA = jsonschema.Draft202012Validator(
    json.loads(
        (Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
    )
)
BIRTHDATE = "1961-07-04"
SECRET_COST_CENTRE = "CC-SECRET-1"


def fc(name: str, before: FieldValue, after: FieldValue) -> FieldChange:
    return FieldChange(name, before, after)


def with_checksum(plan: Plan) -> Plan:
    # Sealed as the use case seals every plan it shows (the schema wants a keyed checksum).
    return dataclasses.replace(plan, checksum=compute_checksum(plan, b"test plan key"))


def sample_plan() -> Plan:
    return with_checksum(
        Plan(
            changes=(
                Change(
                    Action.CREATE,
                    "1",
                    None,
                    "ada@example.com",
                    (
                        fc("email", None, "ada@example.com"),
                        fc("first_name", None, "Ada"),
                        fc("last_name", None, "Example"),
                        fc("title", None, "CTO"),
                    ),
                ),
                Change(
                    Action.CREATE,
                    "3",
                    None,
                    "nia@example.com",
                    (
                        fc("birth_date", None, BIRTHDATE),
                        fc("custom:Buddy", None, "ada@example.com"),
                        fc("email", None, "nia@example.com"),
                        fc("first_name", None, "Nia"),
                        fc("last_name", None, "Example"),
                        fc("manager", None, "1"),
                        fc("start_date", None, "2024-02-01"),
                    ),
                    depends_on="1",
                ),
                Change(
                    Action.LINK, "4", "u4", "bo@example.com", (fc("title", "Intern", "Engineer"),)
                ),
                Change(Action.REACTIVATE, "5", "u5", "cy@example.com"),
                Change(
                    Action.UPDATE,
                    "2",
                    "u2",
                    "dee@example.com",
                    (
                        fc("birth_date", BIRTHDATE, None),
                        fc("custom:Cost Center", SECRET_COST_CENTRE, "CC-SECRET-2"),
                        fc("custom:Level", 3, 4.5),
                        fc("last_name", "Old", "New"),
                        fc("title", "Engineer", "Senior Engineer"),
                    ),
                ),
                Change(Action.DEACTIVATE, "9", "u9", "eve@example.com"),
                Change(Action.DEACTIVATE, None, "u10", "svc@example.com"),
            ),
            unchanged=240,
            warnings=(
                Problem(
                    "6",
                    "manager_out_of_scope",
                    "employee 6: manager 8 is out of scope (status or employment type) — "
                    "no manager set",
                ),
            ),
            errors=(
                Problem(
                    "7",
                    "duplicate_email",
                    "employee 7 has the same email as employee 8 — fix it in Personio; both "
                    "left untouched",
                    email="fay@example.com",
                ),
            ),
            sensitive_fields=frozenset({"birth_date", "custom:Cost Center"}),
            source_employees=250,
            target_users=247,
        )
    )


VIOLATIONS = (
    Violation(
        "max_deactivations.count",
        "2 deactivations exceed safety.max_deactivations.count = 1 (2 of 247 active Lattice "
        "users, 0.8 %) — review the plan, then re-run with --force or raise "
        "safety.max_deactivations.count",
        forceable=True,
    ),
    Violation(
        "min_source_employees",
        "Personio returned 0 employees (minimum 1)",
        forceable=False,
    ),
)


def sample_report(*, interrupted: bool = True) -> ApplyReport:
    plan = sample_plan()
    c = plan.changes
    return ApplyReport(
        plan,
        (
            ChangeResult(c[0], Outcome.FAILED, None, "invalidValue: unknown attribute 'Buddy'", 1),
            ChangeResult(
                c[1], Outcome.SKIPPED, None, "skipped: the create of 1 (its manager) failed"
            ),
            ChangeResult(c[2], Outcome.APPLIED, "u4", None, 1),
            ChangeResult(c[3], Outcome.APPLIED, "u5", None, 2),
            ChangeResult(c[4], Outcome.FAILED, "u2", None, 3),
            ChangeResult(c[5], Outcome.SKIPPED, "u9", "not started: apply was interrupted"),
            ChangeResult(c[6], Outcome.SKIPPED, "u10", "not started: apply was interrupted"),
        ),
        interrupted=interrupted,
    )


# ---------------------------------------------------------------------------------------------
# Summary line
# ---------------------------------------------------------------------------------------------


def test_the_summary_line_names_only_kinds_that_occur() -> None:
    assert render_summary(sample_plan()) == (
        "Plan: 2 to create, 1 to link, 1 to reactivate, 1 to update, 2 to deactivate, 240 unchanged"
    )
    only_updates = Plan(changes=(Change(Action.UPDATE, "1", "u1", "a@example.com"),), unchanged=0)
    assert render_summary(only_updates) == "Plan: 1 to update, 0 unchanged"


def test_the_summary_of_an_empty_plan_says_no_changes() -> None:
    assert render_summary(Plan(changes=(), unchanged=240)) == "Plan: no changes, 240 unchanged"


# ---------------------------------------------------------------------------------------------
# Golden outputs (CHECKSUM stands for the plan's checksum)
# ---------------------------------------------------------------------------------------------

TEXT = """\
Plan: 2 to create, 1 to link, 1 to reactivate, 1 to update, 2 to deactivate, 240 unchanged
Errors: 1 duplicate_email
Warnings: 1 manager_out_of_scope

Changes by department:
  department  deactivate  create  link  reactivate  update
  (none)               2       2     1           1       1

Deactivate (2):
  9 eve@example.com (Lattice u9)
  (no Personio id) svc@example.com (Lattice u10)

Create (2):
  1 ada@example.com (new)
      email: "ada@example.com"
      first_name: "Ada"
      last_name: "Example"
      title: "CTO"
  3 nia@example.com (new)
      birth_date: (redacted)
      custom:Buddy: "ada@example.com"
      email: "nia@example.com"
      first_name: "Nia"
      last_name: "Example"
      manager: "1"
      start_date: "2024-02-01"
      after the create of 1 (their manager)

Link (1):
  4 bo@example.com (Lattice u4)
      title: "Intern" → "Engineer"

Reactivate (1):
  5 cy@example.com (Lattice u5)

Update (1):
  2 dee@example.com (Lattice u2)
      birth_date: (redacted) → (none)
      custom:Cost Center: (redacted) → (redacted)
      custom:Level: 3 → 4.5
      last_name: "Old" → "New"
      title: "Engineer" → "Senior Engineer"

Errors (1):
  7 duplicate_email: employee 7 has the same email as employee 8 — fix it in Personio; both left untouched

Warnings (1):
  6 manager_out_of_scope: employee 6: manager 8 is out of scope (status or employment type) — no manager set

Safety: ok — within the safety policy
Checksum: CHECKSUM
"""

TEXT_REFUSED_TAIL = """\
  6 manager_out_of_scope: employee 6: manager 8 is out of scope (status or employment type) — no manager set

Safety: REFUSED by the safety policy
  - 2 deactivations exceed safety.max_deactivations.count = 1 (2 of 247 active Lattice users, 0.8 %) — review the plan, then re-run with --force or raise safety.max_deactivations.count
  - Personio returned 0 employees (minimum 1) (--force cannot override this)
Checksum: CHECKSUM
"""

MARKDOWN = """\
### Personio → Lattice plan

**Plan: 2 to create, 1 to link, 1 to reactivate, 1 to update, 2 to deactivate, 240 unchanged**

| action | count |
|---|---:|
| create | 2 |
| link | 1 |
| reactivate | 1 |
| update | 1 |
| deactivate | 2 |
| unchanged | 240 |

✅ **safe**: within the safety policy

| department | deactivate | create | link | reactivate | update |
|---|---:|---:|---:|---:|---:|
| (none) | 2 | 2 | 1 | 1 | 1 |

<details open><summary>2 to deactivate</summary>

- **9** · `e•••@example.com` · Lattice `u9`
- **(no Personio id)** · `s•••@example.com` · Lattice `u10`

</details>

<details open><summary>2 to create</summary>

- **1** · `a•••@example.com` · new
  - `email`: (set)
  - `first_name`: (set)
  - `last_name`: (set)
  - `title`: `"CTO"`
- **3** · `n•••@example.com` · new
  - `birth_date`: (redacted)
  - `custom:Buddy`: `"a•••@example.com"`
  - `email`: (set)
  - `first_name`: (set)
  - `last_name`: (set)
  - `manager`: `"1"`
  - `start_date`: `"2024-02-01"`
  - after the create of **1** (their manager)

</details>

<details open><summary>1 to link</summary>

- **4** · `b•••@example.com` · Lattice `u4`
  - `title`: `"Intern"` → `"Engineer"`

</details>

<details open><summary>1 to reactivate</summary>

- **5** · `c•••@example.com` · Lattice `u5`

</details>

<details open><summary>1 to update</summary>

- **2** · `d•••@example.com` · Lattice `u2`
  - `birth_date`: (redacted) → (none)
  - `custom:Cost Center`: (redacted) → (redacted)
  - `custom:Level`: `3` → `4.5`
  - `last_name`: (changed)
  - `title`: `"Engineer"` → `"Senior Engineer"`

</details>

**Manager changes** (1):

```mermaid
graph TD
  n0["Personio 3"]
  n1["Personio 1"]
  n1 --> n0
```

**1 error** by code:

| code | count |
|---|---:|
| `duplicate_email` | 1 |

<details><summary>1 error: details</summary>

| code | Personio id | message |
|---|---|---|
| `duplicate_email` | 7 | employee 7 has the same email as employee 8 — fix it in Personio; both left untouched |

</details>

**1 warning** by code:

| code | count |
|---|---:|
| `manager_out_of_scope` | 1 |

<details><summary>1 warning: details</summary>

| code | Personio id | message |
|---|---|---|
| `manager_out_of_scope` | 6 | employee 6: manager 8 is out of scope (status or employment type) — no manager set |

</details>

Checksum: `CHECKSUM`
"""

MARKDOWN_UNMASKED = """\
### Personio → Lattice plan

**Plan: 2 to create, 1 to link, 1 to reactivate, 1 to update, 2 to deactivate, 240 unchanged**

| action | count |
|---|---:|
| create | 2 |
| link | 1 |
| reactivate | 1 |
| update | 1 |
| deactivate | 2 |
| unchanged | 240 |

✅ **safe**: within the safety policy

| department | deactivate | create | link | reactivate | update |
|---|---:|---:|---:|---:|---:|
| (none) | 2 | 2 | 1 | 1 | 1 |

<details open><summary>2 to deactivate</summary>

- **9** · `eve@example.com` · Lattice `u9`
- **(no Personio id)** · `svc@example.com` · Lattice `u10`

</details>

<details open><summary>2 to create</summary>

- **1** · `ada@example.com` · new
  - `email`: `"ada@example.com"`
  - `first_name`: `"Ada"`
  - `last_name`: `"Example"`
  - `title`: `"CTO"`
- **3** · `nia@example.com` · new
  - `birth_date`: (redacted)
  - `custom:Buddy`: `"ada@example.com"`
  - `email`: `"nia@example.com"`
  - `first_name`: `"Nia"`
  - `last_name`: `"Example"`
  - `manager`: `"1"`
  - `start_date`: `"2024-02-01"`
  - after the create of **1** (their manager)

</details>

<details open><summary>1 to link</summary>

- **4** · `bo@example.com` · Lattice `u4`
  - `title`: `"Intern"` → `"Engineer"`

</details>

<details open><summary>1 to reactivate</summary>

- **5** · `cy@example.com` · Lattice `u5`

</details>

<details open><summary>1 to update</summary>

- **2** · `dee@example.com` · Lattice `u2`
  - `birth_date`: (redacted) → (none)
  - `custom:Cost Center`: (redacted) → (redacted)
  - `custom:Level`: `3` → `4.5`
  - `last_name`: `"Old"` → `"New"`
  - `title`: `"Engineer"` → `"Senior Engineer"`

</details>

**Manager changes** (1):

```mermaid
graph TD
  n0["Personio 3"]
  n1["Personio 1"]
  n1 --> n0
```

**1 error** by code:

| code | count |
|---|---:|
| `duplicate_email` | 1 |

<details><summary>1 error: details</summary>

| code | Personio id | message |
|---|---|---|
| `duplicate_email` | 7 | employee 7 has the same email as employee 8 — fix it in Personio; both left untouched |

</details>

**1 warning** by code:

| code | count |
|---|---:|
| `manager_out_of_scope` | 1 |

<details><summary>1 warning: details</summary>

| code | Personio id | message |
|---|---|---|
| `manager_out_of_scope` | 6 | employee 6: manager 8 is out of scope (status or employment type) — no manager set |

</details>

Checksum: `CHECKSUM`
"""

JSON = """\
{
  "changes": [
    {
      "action": "create",
      "email": "ada@example.com",
      "fields": {
        "email": {
          "from": null,
          "to": "ada@example.com"
        },
        "first_name": {
          "from": null,
          "to": "Ada"
        },
        "last_name": {
          "from": null,
          "to": "Example"
        },
        "title": {
          "from": null,
          "to": "CTO"
        }
      },
      "lattice_id": null,
      "personio_id": "1"
    },
    {
      "action": "create",
      "depends_on": "1",
      "email": "nia@example.com",
      "fields": {
        "birth_date": {
          "from": null,
          "to": "(redacted)"
        },
        "custom:Buddy": {
          "from": null,
          "to": "ada@example.com"
        },
        "email": {
          "from": null,
          "to": "nia@example.com"
        },
        "first_name": {
          "from": null,
          "to": "Nia"
        },
        "last_name": {
          "from": null,
          "to": "Example"
        },
        "manager": {
          "from": null,
          "to": "1"
        },
        "start_date": {
          "from": null,
          "to": "2024-02-01"
        }
      },
      "lattice_id": null,
      "personio_id": "3"
    },
    {
      "action": "link",
      "email": "bo@example.com",
      "fields": {
        "title": {
          "from": "Intern",
          "to": "Engineer"
        }
      },
      "lattice_id": "u4",
      "personio_id": "4"
    },
    {
      "action": "reactivate",
      "email": "cy@example.com",
      "fields": {},
      "lattice_id": "u5",
      "personio_id": "5"
    },
    {
      "action": "update",
      "email": "dee@example.com",
      "fields": {
        "birth_date": {
          "from": "(redacted)",
          "to": null
        },
        "custom:Cost Center": {
          "from": "(redacted)",
          "to": "(redacted)"
        },
        "custom:Level": {
          "from": 3,
          "to": 4.5
        },
        "last_name": {
          "from": "Old",
          "to": "New"
        },
        "title": {
          "from": "Engineer",
          "to": "Senior Engineer"
        }
      },
      "lattice_id": "u2",
      "personio_id": "2"
    },
    {
      "action": "deactivate",
      "email": "eve@example.com",
      "fields": {},
      "lattice_id": "u9",
      "personio_id": "9"
    },
    {
      "action": "deactivate",
      "email": "svc@example.com",
      "fields": {},
      "lattice_id": "u10",
      "personio_id": null
    }
  ],
  "checksum": "CHECKSUM",
  "errors": [
    {
      "code": "duplicate_email",
      "message": "employee 7 has the same email as employee 8 — fix it in Personio; both left untouched",
      "personio_id": "7"
    }
  ],
  "format_version": 2,
  "summary": {
    "create": 2,
    "deactivate": 2,
    "link": 1,
    "reactivate": 1,
    "unchanged": 240,
    "update": 1
  },
  "warnings": [
    {
      "code": "manager_out_of_scope",
      "message": "employee 6: manager 8 is out of scope (status or employment type) — no manager set",
      "personio_id": "6"
    }
  ]
}
"""

REPORT_TEXT = """\
Apply: 2 applied, 2 failed, 3 skipped (of 7 changes)
Plan: 2 to create, 1 to link, 1 to reactivate, 1 to update, 2 to deactivate, 240 unchanged
Interrupted: apply was stopped; changes not started were skipped.

Failed (2):
  create 1 ada@example.com (new): invalidValue: unknown attribute 'Buddy'
  update 2 dee@example.com (Lattice u2): (no detail)

Skipped (3):
  create 3 nia@example.com (new): skipped: the create of 1 (its manager) failed
  deactivate 9 eve@example.com (Lattice u9): not started: apply was interrupted
  deactivate (no Personio id) svc@example.com (Lattice u10): not started: apply was interrupted

Checksum: CHECKSUM
"""

REPORT_MARKDOWN = """\
### Personio → Lattice apply report

**Apply: 2 applied, 2 failed, 3 skipped (of 7 changes)**

| outcome | count |
|---|---:|
| applied | 2 |
| failed | 2 |
| skipped | 3 |

Plan: 2 to create, 1 to link, 1 to reactivate, 1 to update, 2 to deactivate, 240 unchanged

⚠️ **Interrupted**: apply was stopped; changes not started were skipped.

<details open><summary>2 failed</summary>

- create **1** · `a•••@example.com` · new: invalidValue: unknown attribute 'Buddy'
- update **2** · `d•••@example.com` · Lattice `u2`: (no detail)

</details>

<details><summary>3 skipped</summary>

- create **3** · `n•••@example.com` · new: skipped: the create of 1 (its manager) failed
- deactivate **9** · `e•••@example.com` · Lattice `u9`: not started: apply was interrupted
- deactivate **(no Personio id)** · `s•••@example.com` · Lattice `u10`: not started: apply was interrupted

</details>

Checksum: `CHECKSUM`
"""


def golden(text: str, plan: Plan) -> str:
    return text.replace("CHECKSUM", plan.checksum)


# ---------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------


def test_text_shows_every_change_with_values_and_redacts_sensitive_ones() -> None:
    plan = sample_plan()

    assert render_text(plan) == golden(TEXT, plan)


def test_text_ends_with_the_safety_verdict_and_what_cannot_be_forced() -> None:
    plan = sample_plan()

    text = render_text(plan, VIOLATIONS)

    assert text.endswith("\nWarnings (1):\n" + golden(TEXT_REFUSED_TAIL, plan))


def test_markdown_masks_people_and_redacts_sensitive_values() -> None:
    plan = sample_plan()

    assert render_markdown(plan) == golden(MARKDOWN, plan)


def test_markdown_without_masking_shows_emails_and_names_but_still_redacts() -> None:
    plan = sample_plan()

    assert render_markdown(plan, mask_personal=False) == golden(MARKDOWN_UNMASKED, plan)


def test_markdown_verdict_lists_every_violation() -> None:
    markdown = render_markdown(sample_plan(), VIOLATIONS)

    assert (
        "⛔ **refused**: 2 deactivations exceed safety.max\\_deactivations.count = 1 (2 of 247 "
        "active Lattice users, 0.8 %) — review the plan, then re-run with --force or raise "
        "safety.max\\_deactivations.count; Personio returned 0 employees (minimum 1) "
        "(--force cannot override this)\n"
    ) in markdown
    assert "✅" not in markdown


def test_json_is_the_redacted_canonical_document() -> None:
    plan = sample_plan()

    assert render_json(plan) == golden(JSON, plan)
    SCHEMA.validate(json.loads(render_json(plan)))


def test_no_format_ever_shows_a_sensitive_value() -> None:
    plan = sample_plan()
    report = sample_report()
    outputs = [
        render_text(plan, VIOLATIONS),
        render_markdown(plan, VIOLATIONS),
        render_markdown(plan, VIOLATIONS, mask_personal=False),
        render_json(plan),
        render_report_text(report),
        render_report_markdown(report),
        render_report_markdown(report, mask_personal=False),
        render_report_json(report),
    ]
    # Whatever formats are registered, through the interface the CLI uses.
    outputs += [fmt.render_plan(plan, VIOLATIONS) for fmt in FORMATS.values()]
    outputs += [fmt.render_report(report) for fmt in FORMATS.values()]

    for output in outputs:
        assert BIRTHDATE not in output
        assert "CC-SECRET" not in output


def test_masked_markdown_shows_no_email_and_no_name() -> None:
    plan = sample_plan()
    outputs = [render_markdown(plan), render_report_markdown(sample_report())]

    for output in outputs:
        assert not re.search(r"[a-z]{2,}@example\.com", output)
        for name in ("Ada", "Nia", "Old", "New", "Example"):
            assert f'"{name}"' not in output


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("ada@example.com", "a•••@example.com"),
        ("  Bo@Example.org ", "B•••@Example.org"),
        ("@example.com", "•••@example.com"),
        ("no-at-sign", "•••"),
    ],
)
def test_emails_are_masked_to_first_character_and_domain(email: str, masked: str) -> None:
    assert mask_email(email) == masked


def test_markdown_values_cannot_break_out_of_their_code_span() -> None:
    plan = with_checksum(
        Plan(
            changes=(
                Change(
                    Action.UPDATE,
                    "1",
                    "u1",
                    "a@example.com",
                    (
                        fc("custom:Notes", "a `tick` | pipe", "line one\nline two"),
                        fc("department", " padded ", "<b>R&D</b> ``x``"),
                    ),
                ),
            ),
            unchanged=0,
            warnings=(Problem("1", "some_code", "attribute 'A|B' <x> *y* _z_"),),
        )
    )

    markdown = render_markdown(plan)

    assert '  - `custom:Notes`: `` "a `tick` | pipe" `` → `"line one\\nline two"`\n' in markdown
    assert '  - `department`: `" padded "` → ``` "<b>R&D</b> ``x``" ```\n' in markdown
    assert "| `some_code` | 1 | attribute 'A\\|B' &lt;x&gt; \\*y\\* \\_z\\_ |\n" in markdown


def test_text_counts_errors_and_warnings_by_code_up_front_most_frequent_first() -> None:
    def problems(*codes: str) -> tuple[Problem, ...]:
        return tuple(Problem(str(i), code, f"problem {i}") for i, code in enumerate(codes))

    plan = with_checksum(
        Plan(
            changes=(),
            unchanged=3,
            errors=problems("email_claimed", "duplicate_external_id", *["email_claimed"] * 2),
            warnings=problems("manager_out_of_scope", "choice_limit", "choice_limit"),
        )
    )

    lines = render_text(plan).splitlines()

    assert lines[1:3] == [
        "Errors: 3 email_claimed, 1 duplicate_external_id",
        "Warnings: 2 choice_limit, 1 manager_out_of_scope",
    ]
    # Every problem is still listed under its section, with its message.
    assert lines.index("Errors (4):") < lines.index("Warnings (3):")
    assert sum(line.startswith("  ") and "problem" in line for line in lines) == 7


def test_text_names_no_problem_codes_for_a_plan_without_problems() -> None:
    lines = render_text(with_checksum(Plan(changes=(), unchanged=3))).splitlines()

    assert not [line for line in lines if line.startswith(("Errors", "Warnings"))]


def test_text_quotes_strings_like_json() -> None:
    plan = Plan(
        changes=(
            Change(Action.UPDATE, "1", "u1", "a@example.com", (fc("title", None, 'Say "hi"'),)),
        ),
        unchanged=0,
    )

    assert '      title: (none) → "Say \\"hi\\""\n' in render_text(plan)
    # A plan without a checksum yet is shown with the checksum it will have.
    assert render_text(plan).endswith(f"Checksum: {compute_checksum(plan)}\n")


# ---------------------------------------------------------------------------------------------
# The Markdown size cap
# ---------------------------------------------------------------------------------------------


def big_plan(updates: int = 2000, warnings: int = 500, errors: int = 3) -> Plan:
    return with_checksum(
        Plan(
            changes=tuple(
                Change(
                    Action.UPDATE,
                    str(n),
                    f"u{n}",
                    f"p{n}@example.com",
                    (fc("title", "Engineer", f"Engineer {n}"),),
                )
                for n in range(updates)
            ),
            unchanged=10,
            warnings=tuple(
                Problem(str(n), "manager_not_found", f"employee {n}: manager 9 is not in Personio")
                for n in range(warnings)
            ),
            errors=tuple(
                Problem(str(n), "email_claimed", f"employee {n}'s email is claimed")
                for n in range(errors)
            ),
        )
    )


def test_a_big_plan_is_cut_to_the_cap_at_whole_entries_and_says_so() -> None:
    plan = big_plan()

    markdown = render_markdown(plan, max_chars=6000)

    assert len(markdown) <= 6000
    assert markdown.endswith(f"Checksum: `{plan.checksum}`\n")
    # The changes come first; the errors are always counted by code, their details wait.
    assert "| `email_claimed` | 3 |" in markdown
    assert "| `manager_not_found` | 500 |" in markdown
    shown = re.findall(r"^- \*\*(\d+)\*\* ", markdown, flags=re.MULTILINE)
    assert shown == [str(n) for n in range(len(shown))]
    assert 10 < len(shown) < 2000
    assert markdown.count("  - `title`: ") == len(shown)
    assert (
        f"\n\n_… and {2000 - len(shown)} more not shown (see the JSON plan artifact)_\n\n</details>"
        in markdown
    )
    assert "\n\n_… and 3 more not shown (see the JSON plan artifact)_\n\n</details>" in markdown
    assert "\n\n_… and 500 more not shown (see the JSON plan artifact)_\n\n</details>" in markdown


def test_a_cut_plan_shows_deactivations_before_anything_else() -> None:
    creates = tuple(
        Change(Action.CREATE, str(n), None, f"p{n}@example.com", (fc("title", None, str(n)),))
        for n in range(1000)
    )
    deactivations = tuple(
        Change(Action.DEACTIVATE, str(n), f"u{n}", f"p{n}@example.com", reason=f"reason {n}")
        for n in range(1000, 1300)
    )
    plan = with_checksum(Plan(changes=creates + deactivations, unchanged=0))

    markdown = render_markdown(plan, max_chars=4000)

    assert len(markdown) <= 4000
    shown_creates = markdown.count("· new")
    shown_deactivations = markdown.count("· Lattice `u")
    assert shown_deactivations > 5
    assert shown_creates == 0
    assert markdown.index("to deactivate</summary>") < markdown.index("to create</summary>")
    assert "_… and 1000 more not shown" in markdown
    assert f"_… and {300 - shown_deactivations} more not shown" in markdown


def test_a_cut_plan_shares_the_room_fairly_between_the_other_kinds() -> None:
    creates = tuple(
        Change(Action.CREATE, str(n), None, f"p{n}@example.com", (fc("title", None, str(n)),))
        for n in range(1000)
    )
    updates = tuple(
        Change(Action.UPDATE, str(n), f"u{n}", f"p{n}@example.com", (fc("title", "A", str(n)),))
        for n in range(1000, 1300)
    )
    plan = with_checksum(Plan(changes=creates + updates, unchanged=0))

    markdown = render_markdown(plan, max_chars=4000)

    assert len(markdown) <= 4000
    shown_creates = markdown.count("· new")
    shown_updates = markdown.count("· Lattice `u")
    assert shown_creates > 5
    assert abs(shown_creates - shown_updates) <= 2


def test_the_cap_uses_the_room_it_has() -> None:
    plan = big_plan(updates=300, warnings=0, errors=0)
    full = render_markdown(plan, max_chars=10**9)

    for cap in (3000, 10000, len(full) - 1):
        markdown = render_markdown(plan, max_chars=cap)
        assert cap - 200 < len(markdown) <= cap
    assert render_markdown(plan, max_chars=len(full)) == full
    assert "more not shown" not in full


def test_a_cap_smaller_than_the_skeleton_still_holds_whole_lines() -> None:
    plan = big_plan()

    markdown = render_markdown(plan, max_chars=150)

    assert len(markdown) <= 150
    assert markdown == "### Personio → Lattice plan\n\n" + markdown.split("\n\n", 1)[1]
    assert markdown.endswith("\n")


# ---------------------------------------------------------------------------------------------
# Apply reports
# ---------------------------------------------------------------------------------------------


def test_report_text_lists_failures_with_details_and_skips_with_reasons() -> None:
    report = sample_report()

    assert render_report_text(report) == golden(REPORT_TEXT, report.plan)


def test_report_markdown_masks_people() -> None:
    report = sample_report()

    assert render_report_markdown(report) == golden(REPORT_MARKDOWN, report.plan)


def test_a_complete_report_does_not_claim_an_interruption() -> None:
    plan = sample_plan()
    report = ApplyReport(
        plan,
        tuple(
            ChangeResult(c, Outcome.APPLIED, c.target_id or "new", None, 1) for c in plan.changes
        ),
    )

    text = render_report_text(report)
    markdown = render_report_markdown(report)

    assert text.startswith("Apply: 7 applied, 0 failed, 0 skipped (of 7 changes)\n")
    assert "Interrupted" not in text + markdown
    assert "Failed" not in text
    assert "<details" not in markdown
    assert json.loads(render_report_json(report))["ok"] is True


def test_report_json_carries_ids_outcomes_and_field_names_only() -> None:
    report = sample_report()

    document = json.loads(render_report_json(report))

    assert document["checksum"] == report.plan.checksum
    assert document["interrupted"] is True
    assert document["ok"] is False
    assert document["outcomes"] == {"applied": 2, "not_applied": 0, "failed": 2, "skipped": 3}
    assert document["summary"] == report.plan.summary
    assert document["results"][0] == {
        "action": "create",
        "personio_id": "1",
        "lattice_id": None,
        "fields": ["email", "first_name", "last_name", "title"],
        "outcome": "failed",
        "not_applied": [],
        "attempts": 1,
        "detail": "invalidValue: unknown attribute 'Buddy'",
    }
    assert [r["outcome"] for r in document["results"]] == [
        "failed",
        "skipped",
        "applied",
        "applied",
        "failed",
        "skipped",
        "skipped",
    ]
    assert "@" not in render_report_json(report)


def test_a_report_of_one_change_reads_in_the_singular_and_is_capped() -> None:
    plan = big_plan(updates=400, warnings=0, errors=0)
    report = ApplyReport(
        plan,
        tuple(
            ChangeResult(c, Outcome.FAILED, c.target_id, "server error 503", 4)
            for c in plan.changes
        ),
    )
    single = ApplyReport(plan, (ChangeResult(plan.changes[0], Outcome.APPLIED, "u0", None, 1),))

    markdown = render_report_markdown(report, max_chars=4000)

    assert len(markdown) <= 4000
    assert "more not shown (see the JSON report or the audit log)_" in markdown
    assert render_report_summary(single) == "Apply: 1 applied, 0 failed, 0 skipped (of 1 change)"
    assert render_report_text(single).startswith(render_report_summary(single) + "\n")


def test_masked_markdown_says_whether_a_name_was_set_changed_or_cleared() -> None:
    update = Change(
        Action.UPDATE,
        "7",
        "u7",
        "eve@example.com",
        (
            fc("first_name", None, "Eve"),
            fc("last_name", "Old", "New"),
            fc("preferred_name", "E", None),
        ),
    )
    markdown = render_markdown(with_checksum(Plan(changes=(update,), unchanged=0)))

    assert [line for line in markdown.splitlines() if line.startswith("  - `")] == [
        "  - `first_name`: (set)",
        "  - `last_name`: (changed)",
        "  - `preferred_name`: (cleared)",
    ]
