"""Execute a reviewed plan through a Lattice writer: dependency waves, concurrency, report, audit.
Imports the standard library, the core model, reconciler.errors and the ports (a ``TargetWriter``).

Order (docs/architecture.md §1, §5.4): every create first, in waves so a new manager exists
before the creates of their reports; then links, reactivations, updates and deactivations,
each kind as one wave. Within a wave up to ``concurrency`` changes run at once; the writer's
own rate limiter bounds the request rate and the writer retries 429/5xx itself.

Every change of the plan ends ``applied``, ``not_applied``, ``failed`` or ``skipped``: a
write the target answered as done but did not store (the writer verifies each one, see
docs/decisions.md, "2026-12-03: apply verifies its own writes") is ``not_applied`` with the
names of what it left out; a per-user ``ApiError`` fails that change only, a change whose
manager's create did not succeed is skipped, and once ``stop`` is set nothing new starts.
Any other exception is a bug and propagates.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from reconciler.core.model import Action, ApplyReport, Change, ChangeResult, Outcome, Plan
from reconciler.errors import ApiError
from reconciler.ports import TargetWriter

logger = logging.getLogger("reconciler.applier")

#: Detail of every change that had not started when ``stop`` was set.
INTERRUPTED_DETAIL = "not started: apply was interrupted"

# Kinds after the creates, in execution order (Action is declared in that order).
_LATER_ACTIONS: tuple[Action, ...] = tuple(a for a in Action if a is not Action.CREATE)

# Server messages may echo what we sent (an email in a uniqueness error, say); the report and
# the audit log must not carry it, so anything email- or token-like is blanked defensively.
_EMAIL_LIKE = re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+")
_BEARER = re.compile(r"(?i)\bbearer\s+\S+")


def compute_batches(plan: Plan) -> tuple[tuple[Change, ...], ...]:
    """The plan's execution waves, each in plan order; empty waves are left out.

    Creates come first: a create that depends on another create of this plan (its manager)
    runs one wave after it. Then one wave per kind: links, reactivations, updates,
    deactivations; their dependencies are creates, which are all done by then.
    Raises ``ValueError`` when creates depend on each other in a cycle (a planner bug).
    """
    return tuple(
        tuple(plan.changes[index] for index in wave) for wave in _compute_wave_indices(plan)
    )


def apply_plan(
    plan: Plan,
    writer: TargetWriter,
    *,
    target_ids: Mapping[str, str],
    concurrency: int = 4,
    on_result: Callable[[ChangeResult], None] | None = None,
    stop: threading.Event | None = None,
) -> ApplyReport:
    """Execute ``plan`` through ``writer`` and report every change, in plan order.

    ``target_ids`` maps the source id of every user that already exists in the target to its
    target id; the applier adds each user it creates, and resolves ``manager`` values (source
    ids) through it. At most ``2 × concurrency`` changes are queued at a time, so memory does
    not grow with the size of the plan. ``on_result`` is called exactly once per change,
    skipped ones included, possibly from a worker thread; calls never overlap, so it need not
    lock, but it should be quick. When ``stop`` is set, requests in flight finish, nothing new
    starts, and ``report.interrupted`` is true if any change was left unstarted because of it.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    run = _Run(plan, writer, target_ids, on_result, stop or threading.Event())
    window = 2 * concurrency
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="apply") as executor:
        for wave in _compute_wave_indices(plan):
            # Every change goes through the pool, even one that will be skipped, so that
            # stop and failed dependencies are judged at the moment it would start.
            pending: set[Future[None]] = set()
            try:
                for index in wave:
                    if len(pending) >= window:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in finished:
                            future.result()  # a bug in a worker surfaces here
                    pending.add(executor.submit(run.execute, index))
                for future in pending:
                    future.result()
            except BaseException:
                # A bug or a KeyboardInterrupt: let what is in flight finish, start nothing else.
                executor.shutdown(wait=True, cancel_futures=True)
                raise
    report = ApplyReport(plan, run.ordered_results(), interrupted=run.interrupted)
    logger.info(
        "apply finished: %d applied, %d not applied, %d failed, %d skipped%s",
        report.count(Outcome.APPLIED),
        report.count(Outcome.NOT_APPLIED),
        report.count(Outcome.FAILED),
        report.count(Outcome.SKIPPED),
        " (interrupted)" if report.interrupted else "",
    )
    return report


#: ``ChangeResult.detail`` of a create whose user another run had already created.
ALREADY_PRESENT = "already present (created by another run); not created by this one"


def audit_record(result: ChangeResult, at: dt.datetime) -> dict[str, object]:
    """One audit-log entry: ids, field names, outcome; no values, names or emails.

    ``at`` must be timezone-aware; it is written in UTC as ISO-8601 with a ``Z``.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("audit time must be timezone-aware")
    change = result.change
    return {
        "time": at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "action": change.action.value,
        "personio_id": change.source_id,
        "lattice_id": result.target_id or change.target_id,
        "fields": sorted(field.name for field in change.fields),
        "outcome": result.outcome.value,
        "not_applied": list(result.not_applied),
        "attempts": result.attempts,
        "detail": result.detail,
    }


def _safe_detail(error: ApiError) -> str:
    """A write failure as report text: our message plus the server's detail, with anything
    email- or token-like blanked."""
    text = error.message
    if error.detail and error.detail not in text:
        text = f"{text} ({error.detail})"
    if error.where:
        # system, method, path and status: ids only, and what an operator needs to follow up
        text = f"{error.where}: {text}"
    return _redact(text)


def _redact(text: str) -> str:
    text = _BEARER.sub("Bearer (redacted)", text)
    return _EMAIL_LIKE.sub("(redacted)", text)


def not_applied_detail(names: tuple[str, ...]) -> str:
    """The report's detail of a ``not_applied`` change: field names, never values."""
    return (
        "the target answered success but did not store: "
        + ", ".join(names)
        + " (the next plan plans it again)"
    )


# ---------------------------------------------------------------------------------------------
# Scheduling (pure)
# ---------------------------------------------------------------------------------------------


def _compute_wave_indices(plan: Plan) -> list[list[int]]:
    """``compute_batches`` as indices into ``plan.changes`` (changes may compare equal).

    A change that ``waits_for`` people runs in a later round than all of their changes (a
    hand-over: the colleague's rename frees the address first); each round has the usual
    waves (creates by manager depth, then one wave per kind). Almost every plan has one round.
    """
    creates = _create_indices(plan)
    rounds = _rounds(plan, creates)
    depth: dict[int, int] = {}

    def depth_of(index: int, path: tuple[int, ...]) -> int:
        if index in depth:
            return depth[index]
        if index in path:
            cycle = [plan.changes[i].source_id or "?" for i in (*path, index)]
            raise ValueError("creates depend on each other in a cycle: " + " → ".join(cycle))
        dependency = _dependency(plan.changes[index], creates)
        level = 0
        if dependency is not None and rounds[creates[dependency]] == rounds[index]:
            level = depth_of(creates[dependency], (*path, index)) + 1
        depth[index] = level
        return level

    waves: list[list[int]] = []
    for round_number in range(max(rounds, default=-1) + 1):
        members = [i for i, r in enumerate(rounds) if r == round_number]
        create_waves: list[list[int]] = []
        for index in members:
            if plan.changes[index].action is not Action.CREATE:
                continue
            level = depth_of(index, ())
            while len(create_waves) <= level:
                create_waves.append([])
            create_waves[level].append(index)
        waves.extend(wave for wave in create_waves if wave)
        for action in _LATER_ACTIONS:
            wave = [i for i in members if plan.changes[i].action is action]
            if wave:
                waves.append(wave)
    return waves


def _person_indices(plan: Plan) -> dict[str, list[int]]:
    """Personio id → indices of that person's changes in the plan."""
    found: dict[str, list[int]] = {}
    for index, change in enumerate(plan.changes):
        if change.source_id is not None:
            found.setdefault(change.source_id, []).append(index)
    return found


def _rounds(plan: Plan, creates: Mapping[str, int]) -> list[int]:
    """Each change's round: 0, or one more than the latest round of the changes it waits for
    (and at least its manager's create's round). Raises ``ValueError`` on a cycle."""
    people = _person_indices(plan)
    rounds: dict[int, int] = {}
    for start in range(len(plan.changes)):
        if start in rounds:
            continue
        # Iterative depth-first walk: waiting chains may be long (many hand-overs in a row).
        stack: list[tuple[int, bool]] = [(start, False)]
        path: list[int] = []  # the walk's current chain, for the cycle's message
        while stack:
            index, expanded = stack.pop()
            before = _prerequisites(plan.changes[index], people, creates)
            if expanded:
                path.pop()
                same = _same_round(plan, index, creates)
                rounds[index] = max((rounds[j] + (j not in same) for j in before), default=0)
                continue
            if index in rounds:
                continue
            path.append(index)
            stack.append((index, True))
            for j in before:
                if j in path:
                    cycle = [*path[path.index(j) :], j]
                    raise ValueError(
                        "changes depend on each other in a cycle: "
                        + " → ".join(plan.changes[i].source_id or "?" for i in cycle)
                    )
                if j not in rounds:
                    stack.append((j, False))
    return [rounds[index] for index in range(len(plan.changes))]


def _prerequisites(
    change: Change, people: Mapping[str, list[int]], creates: Mapping[str, int]
) -> list[int]:
    """Indices of the changes ``change`` must follow: its manager's create, and every change of
    each person it waits for."""
    found: list[int] = []
    dependency = _dependency(change, creates)
    if dependency is not None:
        found.append(creates[dependency])
    for person in change.waits_for:
        if person != change.source_id:
            found.extend(people.get(person, ()))
    return found


def _same_round(plan: Plan, index: int, creates: Mapping[str, int]) -> set[int]:
    """The prerequisite that may share ``index``'s round: its manager's create (the create
    waves of one round are ordered by manager depth)."""
    dependency = _dependency(plan.changes[index], creates)
    return set() if dependency is None else {creates[dependency]}


def _create_indices(plan: Plan) -> dict[str, int]:
    """Personio id → index of that person's create in the plan."""
    return {
        change.source_id: index
        for index, change in enumerate(plan.changes)
        if change.action is Action.CREATE and change.source_id is not None
    }


def _dependency(change: Change, creates: Mapping[str, int]) -> str | None:
    """The Personio id of the create (in this plan) that ``change`` must wait for, if any.

    That is ``depends_on``; and, should the planner not have said so, a new manager that is
    itself being created — otherwise the two could race in one wave.
    """
    candidates = [change.depends_on]
    manager = change.field("manager")
    if manager is not None and manager.after is not None:
        candidates.append(str(manager.after))
    for candidate in candidates:
        # Someone managing themselves cannot wait for themselves; manager resolution then
        # fails that change visibly instead.
        if candidate is not None and candidate in creates and candidate != change.source_id:
            return candidate
    return None


# ---------------------------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------------------------


class _Run:
    """The mutable state of one apply; shared by the worker threads under one lock."""

    def __init__(
        self,
        plan: Plan,
        writer: TargetWriter,
        target_ids: Mapping[str, str],
        on_result: Callable[[ChangeResult], None] | None,
        stop: threading.Event,
    ) -> None:
        self.plan = plan
        self.writer = writer
        self.target_ids = dict(target_ids)
        self.on_result = on_result
        self.stop = stop
        self.creates = _create_indices(plan)
        self.people = _person_indices(plan)
        self.results: dict[int, ChangeResult] = {}
        self.interrupted = False
        self._lock = threading.Lock()
        # Separate from _lock so a slow on_result never holds up state lookups.
        self._callback_lock = threading.Lock()

    def reason_to_skip(self, index: int) -> str | None:
        """Why the change at ``index`` must not start now, or ``None`` to go ahead."""
        if self.stop.is_set():
            with self._lock:
                self.interrupted = True
            return INTERRUPTED_DETAIL
        change = self.plan.changes[index]
        for person in change.waits_for:
            if person == change.source_id:
                continue
            with self._lock:
                done = [self.results.get(i) for i in self.people.get(person, ())]
            if all(result is not None and result.outcome is Outcome.APPLIED for result in done):
                continue
            failed = any(result is not None and result.outcome is Outcome.FAILED for result in done)
            what = "failed" if failed else "was not applied"
            return f"skipped: it waits for the change of {person}, which {what}"
        dependency = _dependency(change, self.creates)
        if dependency is None:
            return None
        with self._lock:
            created = self.results.get(self.creates[dependency])
            exists = dependency in self.target_ids
        if created is not None and exists:
            # the manager exists, even when the target left out some of their fields
            return None
        what = (
            "failed" if created is not None and created.outcome is Outcome.FAILED else "was skipped"
        )
        return f"skipped: the create of {dependency} (its manager) {what}"

    def execute(self, index: int) -> None:
        """Run one change on a worker thread and record its result."""
        change = self.plan.changes[index]
        reason = self.reason_to_skip(index)
        if reason is not None:
            self.finish(index, ChangeResult(change, Outcome.SKIPPED, change.target_id, reason))
            return
        self.finish(index, self._write(change))

    def _write(self, change: Change) -> ChangeResult:
        manager = change.field("manager")
        manager_target_id: str | None = None
        if manager is not None and manager.after is not None:
            with self._lock:
                manager_target_id = self.target_ids.get(str(manager.after))
            if manager_target_id is None:
                # The planner said this manager exists; writing without them would silently
                # drop the manager, so the change fails visibly instead.
                return ChangeResult(
                    change,
                    Outcome.FAILED,
                    change.target_id,
                    f"manager {manager.after} has no Lattice user",
                )
        try:
            if change.action is Action.CREATE:
                written = self.writer.create(change, manager_target_id)
            else:
                written = self.writer.patch(change, manager_target_id)
        except ApiError as error:
            return ChangeResult(
                change,
                Outcome.FAILED,
                change.target_id,
                _safe_detail(error),
                attempts=max(1, error.attempts),
            )
        if change.action is Action.CREATE and change.source_id is not None:
            with self._lock:
                self.target_ids[change.source_id] = written.target_id
        target_id = written.target_id or change.target_id
        if written.unverified is not None:
            detail = f"written, but reading it back to verify it failed: {written.unverified}"
            return ChangeResult(
                change, Outcome.FAILED, target_id, _redact(detail), attempts=written.attempts
            )
        if written.not_stored:
            return ChangeResult(
                change,
                Outcome.NOT_APPLIED,
                target_id,
                not_applied_detail(written.not_stored),
                attempts=written.attempts,
                not_applied=written.not_stored,
            )
        return ChangeResult(
            change,
            Outcome.APPLIED,
            target_id,
            # another run created it first (a 409 for our own externalId): not ours to claim
            ALREADY_PRESENT if written.already_present else None,
            attempts=written.attempts,
        )

    def finish(self, index: int, result: ChangeResult) -> None:
        with self._lock:
            self.results[index] = result
        change = result.change
        log = (
            logger.info if result.outcome in (Outcome.APPLIED, Outcome.SKIPPED) else logger.warning
        )
        log(
            "%s %s (%s): %s%s",
            change.action.value,
            change.source_id or "-",
            result.target_id or "new",
            result.outcome.value,
            f" — {result.detail}" if result.detail else "",
        )
        if self.on_result is not None:
            with self._callback_lock:
                self.on_result(result)

    def ordered_results(self) -> tuple[ChangeResult, ...]:
        return tuple(self.results[index] for index in range(len(self.plan.changes)))
