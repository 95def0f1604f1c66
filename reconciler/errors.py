"""The one exception tree of the reconciler; every expected failure is one of these.
Imports nothing from the project (stdlib only), so every module may import it.

    ReconcilerError                 anything we expect and can explain in one line
    ├── ConfigError                 the YAML file: unreadable, invalid, or a secret reference unset
    ├── SourceDataError             Personio answered, but the data cannot be trusted (missing
    │                               attributes, inconsistent pages, too few employees)
    ├── ApiError                    an HTTP call failed; carries system, method, path and status
    │   ├── AuthError               401/403: wrong credential or missing permission
    │   ├── NotFoundError           404
    │   ├── ConflictError           409 (SCIM uniqueness)
    │   ├── InvalidValueError       400/422: the server rejected a value
    │   ├── RateLimitedError        429 after every retry
    │   ├── ServerError             5xx after every retry
    │   ├── TransportError          no usable answer: timeout, reset, DNS, malformed body, or
    │                               the run's time limit reached
    ├── StoppedError                asked to stop (Ctrl-C, a signal) before the work finished
    ├── UnsafePlanError             the safety policy refused the plan (exit 3)
    ├── PlanFileError               the reviewed plan is refused; ``kind`` says why: malformed,
    │   │                           edited, from another config
    │   └── StalePlanError          kind stale: the reviewed checksum no longer matches (never
    │                               forceable)
    └── ApplyError                  apply finished, but some changes failed

Messages never carry secrets, tokens, names, emails or birthdates: only Personio ids,
SCIM ids, YAML paths, HTTP methods and paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


class ReconcilerError(Exception):
    """An expected failure: one located, actionable line for the user.

    ``where`` says where it happened (a YAML path, or ``system METHOD /path``);
    ``fix`` says what to do about it.
    """

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.fix = fix

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.fix:
            text = f"{text} — {self.fix}"
        return text


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in the config file, located by its YAML path (and line when known)."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        line = f"line {self.line}" if self.line is not None else ""
        if not self.path:
            return f"{line}: {self.message}" if line else self.message
        location = f"{self.path} ({line})" if line else self.path
        return f"{location}: {self.message}"


class ConfigError(ReconcilerError):
    """The config file cannot be used; ``problems`` lists every problem, not only the first."""

    def __init__(self, source: str, problems: Sequence[ConfigProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        summary = "1 problem" if count == 1 else f"{count} problems"
        super().__init__(f"{summary} in the config", where=source)

    def __str__(self) -> str:
        return "\n".join(f"{self.source}: {problem}" for problem in self.problems)


class SourceDataError(ReconcilerError):
    """Personio answered, but what it said cannot be planned from safely."""


class ApiError(ReconcilerError):
    """An HTTP exchange with Personio or Lattice failed.

    ``system`` is ``"personio"`` or ``"lattice"``; ``path`` never includes a query string
    with credentials (we never send any) and the message never includes a token.
    """

    def __init__(
        self,
        message: str,
        *,
        system: str,
        method: str,
        path: str,
        status: int | None = None,
        detail: str | None = None,
        fix: str | None = None,
        attempts: int = 0,
    ) -> None:
        self.system = system
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        #: requests sent for this logical request before giving up (0: not sent by the retry loop)
        self.attempts = attempts
        where = f"{system} {method} {path}"
        if status is not None:
            where = f"{where} → {status}"
        super().__init__(message, where=where, fix=fix)


class AuthError(ApiError):
    """The credential was refused (401/403)."""


class NotFoundError(ApiError):
    """The resource does not exist (404)."""


class ConflictError(ApiError):
    """The server refused a duplicate (409, SCIM ``uniqueness``)."""


class InvalidValueError(ApiError):
    """The server refused a value (400/422)."""


class RateLimitedError(ApiError):
    """Still rate limited (429) after every retry."""


class ServerError(ApiError):
    """The server kept failing (5xx) after every retry."""


class TransportError(ApiError):
    """No usable answer: connection refused or reset, timeout, or a body that is not JSON."""


class StoppedError(ReconcilerError):
    """Asked to stop before the work finished: no new request was started after the request."""


class UnsafePlanError(ReconcilerError):
    """The safety policy refused the plan; ``violations`` says which thresholds and by how much.

    ``forceable`` is false when at least one of them cannot be overridden with ``--force``.
    """

    def __init__(self, violations: Sequence[str], *, forceable: bool = True) -> None:
        self.violations = tuple(violations)
        self.forceable = forceable
        super().__init__(
            "plan refused by the safety policy: " + "; ".join(self.violations),
            fix="review the plan; if it is right, re-run with --force or raise the threshold "
            "under 'safety' in the config"
            if forceable
            else "--force cannot override this; fix the cause first",
        )


#: Why a reviewed plan is refused (docs/security.md, "Sealed receipt").
PlanFileKind = Literal["malformed", "edited", "from another config", "stale"]


class PlanFileError(ReconcilerError):
    """The reviewed plan (``apply --plan FILE`` or ``--checksum``) is refused, never forced:
    ``malformed`` (not a plan document), ``edited`` (the content does not match its seal),
    ``from another config`` (another config file's digest) or ``stale`` (data changed)."""

    def __init__(
        self,
        kind: PlanFileKind,
        message: str,
        *,
        where: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message, where=where, fix=fix)
        self.kind: PlanFileKind = kind


class StalePlanError(PlanFileError):
    """The plan computed now is not the plan that was reviewed."""

    def __init__(self, expected: str, actual: str, differences: Sequence[str] = ()) -> None:
        self.expected = expected
        self.actual = actual
        #: one line per difference from the reviewed plan file (ids and field names only)
        self.differences = tuple(differences)
        super().__init__(
            "stale",
            f"plan is stale: Personio or Lattice changed since it was reviewed "
            f"(reviewed {expected}, now {actual})",
            fix="run plan again and review the new plan",
        )


class ApplyError(ReconcilerError):
    """Apply did not make every change of the plan: some failed, it was stopped, or the audit
    log could not be written. ``report`` is the apply report (an ``ApplyReport``; typed loosely
    because this module imports nothing of the project)."""

    def __init__(
        self,
        message: str,
        *,
        report: object,
        where: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message, where=where, fix=fix)
        self.report = report
