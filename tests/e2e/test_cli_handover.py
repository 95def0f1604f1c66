"""End-to-end: a hand-over through the real CLI (``reconcile plan`` / ``apply``) against both
emulators served over HTTP (docs/decisions.md, "2026-12-03: hand-overs"): the text plan says the
taker's change comes after the colleague's, and one apply writes both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.sandbox.scenario import build_sandbox

if TYPE_CHECKING:
    from conftest import Kit, ServeSandbox

#: Four updates among 13 active users are 30.8 %: over the sample config's 30 % for a team
#: this small, so the test's config allows half (an operator's choice, not --force).
SMALL_TEAM = {"safety": {"max_updates": {"percent": 50}}}


def block(text: str, pid: str) -> list[str]:
    """The lines the text plan shows for Personio id ``pid``'s change."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {pid} "))
    end = next(
        (i for i in range(start + 1, len(lines)) if not lines[i].startswith("      ")), len(lines)
    )
    return lines[start:end]


def test_a_hand_over_is_planned_after_the_rename_and_applied_in_one_run(
    kit: Kit, serve_sandbox: ServeSandbox
) -> None:
    # 12 invented people at example.com; 11 gets a new address and 12 takes their old one.
    live = serve_sandbox(build_sandbox(12, 1, drift=False))
    config = live.write_config("small-team.yaml", SMALL_TEAM)
    personio, lattice = live.box.personio, live.box.lattice
    handed = str(personio.employee(11)["attributes"]["email"]["value"])
    personio.update_employee(11, "email", "renamed-11@example.com")
    personio.update_employee(12, "email", handed)
    users = {str(u["externalId"]): u for u in lattice.users.values() if u.get("externalId")}
    holder, taker = str(users["11"]["id"]), str(users["12"]["id"])

    planned = live.run("plan", config=config)
    applied = live.run("apply", "--checksum", kit.checksum_in(planned.stdout), config=config)
    again = live.run("plan", config=config)

    assert planned.exit_code == 0, planned.stderr
    assert planned.stdout.splitlines()[0] == "Plan: 4 to update, 7 unchanged"
    assert block(planned.stdout, "12")[-1] == "      after the changes of 11"
    assert not any("after the changes" in line for line in block(planned.stdout, "11"))
    # 1 and 10 name 12 as their Buddy: written as 12's new address, once 12 holds it.
    for pid in ("1", "10"):
        assert block(planned.stdout, pid)[-1] == "      after the changes of 12"
    assert "Safety: ok" in planned.stdout

    assert applied.exit_code == 0, applied.stderr
    assert applied.stderr == ""
    assert "Apply: 4 applied, 0 failed, 0 skipped (of 4 changes)" in applied.stdout
    patched = [r.path.rsplit("/", 1)[-1] for r in live.writes()]
    assert all(r.method == "PATCH" and r.status == 200 for r in live.writes())
    assert sorted(patched) == sorted(str(users[pid]["id"]) for pid in ("1", "10", "11", "12"))
    assert patched.index(holder) < patched.index(taker)
    assert lattice.users[holder]["userName"] == "renamed-11@example.com"
    assert lattice.users[taker]["userName"] == handed

    assert again.exit_code == 0, again.stderr
    assert again.stdout.splitlines()[0] == "Plan: no changes, 11 unchanged"


def test_a_hand_over_to_the_holders_own_buddy_is_planned_without_a_ring_and_applied(
    kit: Kit, serve_sandbox: ServeSandbox
) -> None:
    live = serve_sandbox(build_sandbox(12, 1, drift=False))
    config = live.write_config("small-team.yaml", SMALL_TEAM)
    personio = live.box.personio
    assert personio.employee(10)["attributes"]["dynamic_5678901"]["value"] == "12"  # the Buddy
    handed = str(personio.employee(10)["attributes"]["email"]["value"])
    personio.update_employee(10, "email", "renamed-10@example.com")
    personio.update_employee(12, "email", handed)

    planned = live.run("plan", config=config)
    applied = live.run("apply", "--checksum", kit.checksum_in(planned.stdout), config=config)

    assert planned.exit_code == 0, planned.stderr
    assert not (
        block(planned.stdout, "10")[-1] == "      after the changes of 12"
        and block(planned.stdout, "12")[-1] == "      after the changes of 10"
    )
    assert applied.exit_code == 0, applied.stderr
    [taker] = [u for u in live.box.lattice.users.values() if u.get("externalId") == "12"]
    assert taker["userName"] == handed
