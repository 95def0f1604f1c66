"""The ``reconcile`` command line (click): the only module that prints or reads the environment.
Imports click, rich and the composition root; decisions stay in the pure core.

Exit codes (every command):
  0  success, nothing to do (plan) / every change applied (apply)
  1  error: bad config, API failure, or some changes failed
  2  plan only, with --detailed-exitcode: success, changes pending
  3  refused by the safety policy
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from reconciler import app, render
from reconciler.config import config_warnings, load_config
from reconciler.core.model import ApplyReport, Config, PlanContext
from reconciler.edges.connections import Connections
from reconciler.edges.github import (
    MARKER,
    build_comment_body,
    find_reviewed_checksum,
    reviewed_marker,
    upsert_pr_comment,
)
from reconciler.edges.http import Deadline
from reconciler.endpoints import (
    ALLOW_ENDPOINTS_VARIABLE,
    check_config_endpoints,
    check_endpoint,
    parse_allowed_origins,
)
from reconciler.errors import (
    ApplyError,
    ConfigError,
    ReconcilerError,
    StalePlanError,
    UnsafePlanError,
)
from reconciler.sandbox import sample_config_path, sample_config_text
from reconciler.sandbox.scenario import build_sandbox
from reconciler.sandbox.transport import EmulatorServer, Handler
from reconciler.sources.personio.profile import ALLOWED_HOSTS as PERSONIO_HOSTS
from reconciler.sources.personio.profile import DEFAULT_BASE_URL as PERSONIO_BASE_URL

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_UNSAFE = 3

EXIT_CODES_HELP = """
\b
Exit codes:
  0  success; nothing to do (plan) or every change applied (apply)
  1  error: invalid config, API failure, stale plan, or some changes failed
  2  plan --detailed-exitcode only: success, changes pending
  3  refused by the safety policy (see the 'safety' section of the config)
"""

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=True),
    default=Path("config/integration.yaml"),
    show_default=True,
    help="The integration config (YAML).",
)
sandbox_option = click.option(
    "--sandbox",
    is_flag=True,
    help="Run against the built-in Personio and Lattice emulators seeded with a sample "
    "company: no credentials, no network.",
)
#: How long one command may take in all, unless --timeout says otherwise: a nightly apply of
#: 10,000 changes at 5 requests a second takes about 35 minutes.
DEFAULT_TIMEOUT = 3600.0

timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=1.0),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds the whole command may take; past it, the request in flight is abandoned and "
    "the command ends with an error naming the system and URL.",
)
progress_option = click.option(
    "--no-progress", is_flag=True, help="Never show progress bars (they go to stderr, TTY only)."
)


def _say(line: str, *, err: bool = True) -> None:
    """One line that may carry text from Personio or Lattice (an id, an API's error detail):
    made inert, so it cannot drive the terminal, break the line or start a workflow command."""
    click.echo(render.defuse_lines(render.inert(line)), err=err)


def _fail(error: ReconcilerError) -> NoReturn:
    if isinstance(error, ConfigError):
        for problem in error.problems:
            _say(f"error: {error.source}: {problem}")
    else:
        for line in str(error).splitlines() or [""]:
            _say(f"error: {line}")
    sys.exit(EXIT_ERROR)


@contextmanager
def _expected_errors() -> Iterator[None]:
    """Expected failures become one located line and exit 1 — never a traceback."""
    try:
        yield
    except ReconcilerError as error:
        _fail(error)


def _allowed_origins() -> frozenset[str]:
    """The origins beyond the built-in API hosts that may receive a credential: only from the
    environment (``RECONCILE_ALLOW_ENDPOINTS``), never from the config file."""
    return parse_allowed_origins(os.environ.get(ALLOW_ENDPOINTS_VARIABLE))


#: Overrides the key that seals plan checksums (by default derived from the Lattice token).
PLAN_KEY_VARIABLE = "RECONCILE_PLAN_KEY"


def _plan_key() -> str | None:
    return os.environ.get(PLAN_KEY_VARIABLE) or None


def _log_level(verbose: int) -> int:
    return logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG


def _configure_logging(verbose: int) -> None:
    level = _log_level(verbose)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger().setLevel(level)  # also when logging was configured before
    # httpx logs every URL at INFO (a lookup's filter holds an email) and httpcore logs headers
    # at DEBUG (tokens): our own loggers say what matters, with ids only.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _verbose_after(ctx: click.Context, param: click.Parameter, value: int) -> int:
    """``reconcile plan -v``: the group's ``-v`` also accepted after the subcommand."""
    if value:
        total = (ctx.find_root().params.get("verbose") or 0) + value
        # The group already configured logging; only the level changes.
        logging.getLogger().setLevel(_log_level(total))
    return value


verbose_option = click.option(
    "-v",
    "--verbose",
    count=True,
    expose_value=False,
    callback=_verbose_after,
    help="More log output on stderr (-vv for debug); also accepted before the command.",
)


class _ReconcileGroup(click.Group):
    """Usage errors exit 1, not click's 2: 2 means "changes pending" for plan."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.ClickException as error:
            error.show()
            sys.exit(EXIT_ERROR)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(EXIT_ERROR)
        except BrokenPipeError:
            # `reconcile plan | head`: the reader left; say nothing more, write nothing more.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_ERROR)
        except Exception as error:  # a bug of ours: one plain line, never a traceback
            _internal_error(error)


def _internal_error(error: Exception) -> NoReturn:
    """One line for a failure the tool did not expect. Only the exception's type and where it
    was raised: its message may carry values read from Personio or Lattice. The traceback
    goes to the debug log (``-vv``)."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    logging.getLogger("reconciler").debug("internal error", exc_info=error)
    _say(
        f"error: internal error ({type(error).__name__}{where}): the run stopped here — "
        "run again with -vv for the traceback and report it (re-running is safe: every run "
        "plans from the current state)"
    )
    sys.exit(EXIT_ERROR)


@click.group(
    cls=_ReconcileGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES_HELP,
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.version_option(package_name="personio-lattice-reconciler")
def cli(verbose: int) -> None:
    """Keep Lattice users in step with Personio, the GitOps way.

    \b
    reconcile validate         check the config file offline
    reconcile plan             show what would change (read-only)
    reconcile apply            make exactly those changes
    reconcile explain PERSON   one person's whole story: scope, match, fields (read-only)
    reconcile doctor           check credentials and Personio attribute access
    reconcile init             write a starter config from the Personio attribute list
    reconcile comment          post the plan as one pull-request comment (CI)
    reconcile reviewed         print the checksum a pull request's plan comment recorded (CI)
    reconcile sandbox config   print the sample company's config to copy and edit
    reconcile sandbox serve    run both emulators on localhost

    No credentials yet? Add --sandbox for a built-in sample company.
    """
    _configure_logging(verbose)


# ------------------------------------------------------------------------------------ validate


@cli.command(epilog=EXIT_CODES_HELP)
@config_option
def validate(config_path: Path) -> None:
    """Check the config offline: schema and cross-field checks, every problem with its path.

    Needs no credentials: secret references (env:NAME) are checked for form only. Base URLs
    must be the built-in API hosts over https, or origins listed in RECONCILE_ALLOW_ENDPOINTS.
    """
    with _expected_errors():
        config = load_config(config_path)
        check_config_endpoints(config, _allowed_origins(), source=str(config_path))
    _echo_config_warnings(config)
    custom = len(config.custom_attributes)
    managed = sum(1 for setting in config.fields if setting.enabled)
    click.echo(
        f"{config_path}: valid — {', '.join(config.sync.employee_types)} employees, "
        f"{managed} standard fields, {custom} custom attributes"
    )


# ------------------------------------------------------------------------------------ progress


class _Bars:
    """Progress bars on stderr when it is a terminal; silent otherwise."""

    LABELS: ClassVar[dict[str, str]] = {
        "personio": "Personio employees",
        "lattice": "Lattice users",
        "apply": "Applying changes",
    }

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> _Bars:
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description:<20}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                # "-:--:--" until rich has seen enough progress to estimate the rest
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, stage: str, done: int, total: int) -> None:
        if self._progress is None:
            return
        with self._lock:
            if stage not in self._tasks:
                label = self.LABELS.get(stage, stage)
                self._tasks[stage] = self._progress.add_task(label, total=total)
            self._progress.update(self._tasks[stage], completed=done, total=total)


# ------------------------------------------------------------------------------------ plan


def _config_path(config_path: Path, sandbox: bool) -> Path:
    """With ``--sandbox`` and no ``--config``, the sample company's own config."""
    context = click.get_current_context(silent=True)
    given = context is not None and context.get_parameter_source("config_path") not in (
        None,
        click.core.ParameterSource.DEFAULT,
    )
    return config_path if given or not sandbox else sample_config_path()


def _echo_config_warnings(config: Config) -> None:
    """The config's warnings on stderr, one line each; they never change the exit code."""
    for warning in config_warnings(config):
        _echo(f"warning: {warning}", err=True)


def _load_and_connect(config_path: Path, sandbox: bool) -> tuple[Config, Connections]:
    config = load_config(_config_path(config_path, sandbox))
    _echo_config_warnings(config)
    if sandbox:
        # In-process emulators: the config's base URLs are never dialled, so no allow-list.
        return config, build_sandbox().connections()
    return config, app.connect(
        config, os.environ, source=str(config_path), allowed_origins=_allowed_origins()
    )


def _echo(text: str, *, err: bool = False) -> None:
    """``click.echo`` that turns a full or closed stream into one clear error line."""
    try:
        click.echo(text, nl=not text.endswith("\n"), err=err)
    except BrokenPipeError:
        raise
    except OSError as exc:
        stream = "standard error" if err else "standard output"
        # What is still buffered would fail again at exit, with a traceback-like message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, (sys.stderr if err else sys.stdout).fileno())
        raise ReconcilerError(
            f"cannot write to {stream} ({exc.strerror or type(exc).__name__})"
        ) from exc


def _write_or_echo(text: str, out: Path | None) -> None:
    if out is None:
        _echo(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReconcilerError(f"cannot write the file ({exc.strerror})", where=str(out)) from exc


def _render_plan(run: app.PlanRun, fmt: str, seal_key: bytes | None = None) -> str:
    if fmt == "json" and seal_key is not None:
        # What plan writes as JSON is sealed, so apply --plan can tell an edited file.
        return render.render_json(run.plan, seal_key=seal_key)
    return render.get_format(fmt).render_plan(run.plan, run.violations)


def _plan_context(config: Config, config_path: Path, sandbox: bool) -> PlanContext:
    """What the plan is computed against (shown with it; apply compares the config digest)."""
    return app.plan_context(config, _config_path(config_path, sandbox), os.environ)


def _actor() -> str:
    """Who runs apply, for the audit log: the GitHub actor in CI, else the local user."""
    actor = os.environ.get("GITHUB_ACTOR", "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _render_report(report: ApplyReport, fmt: str) -> str:
    return render.get_format(fmt).render_report(report)


@contextmanager
def _stop_on_signals(stop: threading.Event, what: str) -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM (what CI sends on cancel) set ``stop`` instead of killing
    the process mid-request: requests in flight finish, nothing new starts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: object) -> None:
        if not stop.is_set():
            name = "interrupted" if signum == signal.SIGINT else "terminated"
            click.echo(f"{name}: {what}", err=True)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _parse_updated_since(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dt.datetime | None:
    """``--updated-since``: ``90m``, ``2h``, ``1d`` or an ISO 8601 time → an aware datetime."""
    if value is None:
        return None
    try:
        return app.parse_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


updated_since_option = click.option(
    "--updated-since",
    metavar="DURATION|TIME",
    callback=_parse_updated_since,
    default=None,
    help="Fast run: only the Personio employees updated in this window (90m, 2h, 1d, or an "
    "ISO 8601 time), looked up in Lattice one by one. Nobody absent is deactivated; people "
    "it cannot decide are left to the full run (a warning).",
)


only_option = click.option(
    "--only",
    "only",
    multiple=True,
    metavar="PERSON",
    help="Plan (and apply) only this person: a Personio id or a work email; repeatable. "
    "Checksummed and safety-checked like any plan; everyone else's changes are left for later.",
)

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(render.FORMATS)),
    default="text",
    show_default=True,
    help="text for terminals, markdown for pull-request comments, json for machines.",
)


@cli.command(epilog=EXIT_CODES_HELP)
@config_option
@format_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the plan to this file instead of stdout.",
)
@click.option(
    "--json-out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the JSON plan (which carries the checksum for 'apply --plan') to this "
    "file, from the same run: what is reviewed and what is applied are one plan. Masked (no "
    "emails, names or sensitive values), so it can be uploaded, unless --unmasked.",
)
@click.option(
    "--unmasked",
    is_flag=True,
    help="Write --json-out with emails and names in clear (never upload such a file).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when changes are pending (0 only when there is nothing to do).",
)
@click.option(
    "--baseline-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Plan the same read a second time with this config (in CI: the default branch's) "
    "and mark every change 'caused by this pull request' or 'pending anyway'. The checksum "
    "is the one without it.",
)
@only_option
@sandbox_option
@progress_option
@timeout_option
@updated_since_option
@verbose_option
def plan(
    config_path: Path,
    fmt: str,
    out: Path | None,
    json_out: Path | None,
    unmasked: bool,
    detailed_exitcode: bool,
    baseline_config: Path | None,
    only: tuple[str, ...],
    sandbox: bool,
    no_progress: bool,
    timeout: float,
    updated_since: dt.datetime | None,
) -> None:
    """Show exactly which Lattice users would be created, linked, reactivated, updated or
    deactivated. Read-only: the Lattice client used here has no write methods.

    The plan ends with its checksum; pass it to 'apply --checksum' to apply exactly what was
    reviewed. Sensitive values (birthdates, attributes marked sensitive) are always redacted.
    """
    with _expected_errors():
        config, conn = _load_and_connect(config_path, sandbox)
        context = _plan_context(config, config_path, sandbox)
        seal_key = app.derive_plan_key(conn, _plan_key())
        baseline = load_config(baseline_config) if baseline_config is not None else None
        stop = threading.Event()
        limits = app.RunLimits(Deadline.after(timeout), stop)
        with _Bars(not no_progress) as bars, _stop_on_signals(stop, "stopping after the pages…"):
            run = app.plan(
                config,
                conn,
                progress=bars.update,
                limits=limits,
                since=updated_since,
                plan_key=_plan_key(),
                baseline=baseline,
                only=only,
                context=context,
            )
        _write_or_echo(_render_plan(run, fmt, seal_key), out)
        if json_out is not None:
            sealed = render.render_json(run.plan, masked=not unmasked, seal_key=seal_key)
            _write_or_echo(sealed, json_out)
        if out is not None:
            _echo(f"{render.render_summary(run.plan)} — written to {out}", err=True)
            _echo(f"Checksum: {run.plan.checksum}", err=True)
    if run.refused:
        click.echo("error: the safety policy refuses this plan; apply would need --force", err=True)
        sys.exit(EXIT_UNSAFE)
    if detailed_exitcode and not run.plan.is_empty:
        sys.exit(EXIT_CHANGES)


# ------------------------------------------------------------------------------------ apply


@cli.command(epilog=EXIT_CODES_HELP)
@config_option
@click.option("--checksum", help="Apply only if the plan computed now has this checksum.")
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A JSON plan from 'plan --json-out FILE' (or --format json): refused when malformed, "
    "edited (its seal), from another --config, or stale (its checksum).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Apply even though the safety thresholds refuse the plan. Never overrides a stale "
    "plan or an empty Personio answer.",
)
@click.option(
    "--audit-log",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Append a run line (actor, commit, checksum, force, refusals), one JSON line per "
    "executed change (ids, action, field names, outcome) and a run_end line.",
)
@click.option(
    "--report-format",
    type=click.Choice(sorted(render.FORMATS)),
    default="text",
    show_default=True,
    help="Format of the plan shown before applying and of the apply report; markdown masks "
    "personal data (use it where logs are shared, e.g. CI).",
)
@click.option(
    "--report-out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the apply report to this file (the plan and a summary still go to stdout).",
)
@only_option
@sandbox_option
@progress_option
@timeout_option
@updated_since_option
@verbose_option
def apply(
    config_path: Path,
    checksum: str | None,
    plan_file: Path | None,
    force: bool,
    audit_log: Path | None,
    report_format: str,
    report_out: Path | None,
    only: tuple[str, ...],
    sandbox: bool,
    no_progress: bool,
    timeout: float,
    updated_since: dt.datetime | None,
) -> None:
    """Re-plan, verify the reviewed checksum, check the safety policy, then make the changes.

    Without --checksum/--plan (the scheduled run) it applies what it computes, after printing
    the plan. Changes run creates first (managers before their reports), then links,
    reactivations, updates and deactivations; one failed user never stops the others.
    Ctrl-C stops after the requests in flight and reports what was and was not done.
    """
    if checksum and plan_file:
        raise click.UsageError("give --checksum or --plan, not both")
    stop = threading.Event()
    with _expected_errors():
        reviewed = app.read_plan_file(plan_file) if plan_file else None
        expected = str(reviewed["checksum"]) if reviewed is not None else checksum
        config, conn = _load_and_connect(config_path, sandbox)

        def show_plan(run: app.PlanRun) -> None:
            # The plan is shown in the report's format: markdown (CI logs, job summaries) masks
            # personal data, text (a terminal) does not. JSON output stays one document (the
            # report, which carries the plan's summary and checksum), so the plan goes to stderr.
            if report_format == "json":
                _echo(render.render_summary(run.plan), err=True)
                _echo(f"Checksum: {run.plan.checksum}", err=True)
            else:
                _echo(_render_plan(run, report_format))

        with (
            _Bars(not no_progress) as bars,
            _stop_on_signals(stop, "finishing the requests in flight, starting no new ones…"),
        ):
            try:
                result = app.apply(
                    config,
                    conn,
                    expected_checksum=expected,
                    reviewed=reviewed,
                    force=force,
                    audit_path=audit_log,
                    show_plan=show_plan,
                    progress=bars.update,
                    limits=app.RunLimits(Deadline.after(timeout), stop),
                    since=updated_since,
                    plan_key=_plan_key(),
                    only=only,
                    reviewed_from=str(plan_file),
                    context=_plan_context(config, config_path, sandbox),
                    actor=_actor(),
                )
            except StalePlanError as error:
                _say(f"error: {error}")
                for line in error.differences:
                    _say(f"  {line}")
                sys.exit(EXIT_ERROR)
            except UnsafePlanError as error:
                for violation in error.violations:
                    _say(f"error: refused: {violation}")
                _say(f"error: {error.fix}")
                sys.exit(EXIT_UNSAFE)
            except ApplyError as error:
                if not isinstance(error.report, ApplyReport):
                    raise
                audit_failed = error.where == str(audit_log) and audit_log is not None
                _finish_report(error.report, report_format, report_out, stderr=audit_failed)
                _fail(error)
        if result.overridden:
            click.echo("warning: safety thresholds overridden with --force", err=True)
        if result.run.plan.is_empty and report_format != "json" and report_out is None:
            _echo("Nothing to apply.")
        else:
            _finish_report(result.report, report_format, report_out, stderr=False)
        if sandbox:
            click.echo(
                "note: the sandbox lives in memory; the next --sandbox run starts again from the "
                "same sample company (use 'reconcile sandbox serve' to keep state between runs)",
                err=True,
            )


def _finish_report(report: ApplyReport, fmt: str, out: Path | None, *, stderr: bool) -> None:
    """Print (or write) the apply report; when the file cannot be written the report goes to
    stderr, so what was done is never lost."""
    text = _render_report(report, fmt)
    if stderr:
        _echo(text, err=True)
        return
    if fmt != "json" and report.results:
        _echo("")  # the report stands apart from the plan above it
    if out is None:
        _echo(text)
        return
    try:
        _write_or_echo(text, out)
    except ReconcilerError:
        _echo(text, err=True)
        raise
    _echo(f"{render.render_report_summary(report)} — report written to {out}")


# ------------------------------------------------------------------------------------ explain


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("person")
@config_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for terminals, json for machines.",
)
@sandbox_option
@progress_option
@timeout_option
@verbose_option
def explain(
    person: str, config_path: Path, fmt: str, sandbox: bool, no_progress: bool, timeout: float
) -> None:
    """Tell one person's whole story (PERSON: a Personio id or a work email). Read-only.

    In or out of scope and the rule that decided it; how they were matched to a Lattice user
    (by id, by email, ambiguity and the other candidates); each managed field from the
    Personio attribute to the Lattice value; their warnings and errors; what apply would send.
    Sensitive values are redacted, as in the plan.
    """
    with _expected_errors():
        config, conn = _load_and_connect(config_path, sandbox)
        stop = threading.Event()
        with _Bars(not no_progress) as bars, _stop_on_signals(stop, "stopping after the pages…"):
            story = app.explain(
                config,
                conn,
                person,
                progress=bars.update,
                limits=app.RunLimits(Deadline.after(timeout), stop),
                plan_key=_plan_key(),
            )
        text = (
            render.render_explanation_json(story)
            if fmt == "json"
            else render.render_explanation_text(story)
        )
        _echo(text)


# ------------------------------------------------------------------------------------ doctor


@cli.command(epilog=EXIT_CODES_HELP)
@config_option
@sandbox_option
@timeout_option
def doctor(config_path: Path, sandbox: bool, timeout: float) -> None:
    """Check both credentials and the Personio attribute allow-list, one line per problem.

    \b
    ✔/✘ the config is valid
    ✔/✘ the Personio credential authenticates
    ✔/✘ every required and mapped Personio attribute is allowed on the credential
    ✔/✘ the Lattice SCIM key works (super admin, SCIM enabled)
        (or: lattice.base_url is the SCIM service, when it answers as something else)
    ✔/✘ every mapped Lattice custom attribute exists with a compatible type

    The config's warnings (e.g. an app_id Personio would not accept) go to stderr.
    """
    with _expected_errors():
        config_path = _config_path(config_path, sandbox)
        config = load_config(config_path)
        click.echo(f"✔ {config_path} is valid")
        _echo_config_warnings(config)
        conn = (
            build_sandbox().connections()
            if sandbox
            else app.connect(
                config, os.environ, source=str(config_path), allowed_origins=_allowed_origins()
            )
        )
        click.echo("✔ every credential reference is set")
    failed = False
    for check in app.run_doctor(config, conn, app.RunLimits(Deadline.after(timeout))):
        mark = "✔" if check.ok else "✘"
        click.echo(f"{mark} {check.title}")
        for line in check.details:
            _say(f"    {line}", err=False)
        failed = failed or not check.ok
    click.echo(
        "note: switch off Lattice's built-in Personio integration before the first apply; "
        "both would write the same users."
    )
    if failed:
        sys.exit(EXIT_ERROR)


# ------------------------------------------------------------------------------------ init


@cli.command(epilog=EXIT_CODES_HELP)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("config/integration.yaml"),
    show_default=True,
    help="Where to write the starter config.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option(
    "--personio-base-url",
    default=PERSONIO_BASE_URL,
    show_default=True,
    help="The Personio API the starter config points at.",
)
@click.option(
    "--app-id",
    default="LATTICE_SYNC",
    show_default=True,
    help="X-Personio-App-ID (Personio expects UPPER_SNAKE_CASE).",
)
@sandbox_option
@timeout_option
def init(
    out: Path, force: bool, personio_base_url: str, app_id: str, sandbox: bool, timeout: float
) -> None:
    """Write a starter config from the live Personio attribute list.

    Reads the credential from PERSONIO_CLIENT_ID and PERSONIO_CLIENT_SECRET (or uses the
    sandbox). Custom attributes are listed, commented out, for you to pick.
    """
    with _expected_errors():
        if out.exists() and not force:
            raise ReconcilerError(
                "the file exists", where=str(out), fix="pass --force to overwrite it"
            )
        bootstrap = app.bootstrap_config(base_url=personio_base_url, app_id=app_id)
        if not sandbox:
            allowed = _allowed_origins()
            problem = check_endpoint(
                personio_base_url, system="Personio", built_in=PERSONIO_HOSTS, allowed=allowed
            )
            if problem is not None:
                raise ReconcilerError(problem, where="--personio-base-url")
        conn = (
            build_sandbox().connections()
            if sandbox
            else app.connect(bootstrap, os.environ, personio_only=True, allowed_origins=allowed)
        )
        text = app.fetch_starter_config(bootstrap, conn, app.RunLimits(Deadline.after(timeout)))
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReconcilerError(
                f"cannot create the folder ({exc.strerror})", where=str(out)
            ) from exc
        _write_or_echo(text, out)
    click.echo(f"wrote {out}; review it, then run: reconcile validate --config {out}")


# ------------------------------------------------------------------------------------ sandbox


@cli.group()
def sandbox() -> None:
    """The built-in emulators, for trying the tool by hand and for benchmarks."""


@sandbox.command("config")
def sandbox_config() -> None:
    """Print the sample company's config: copy it, edit it, and run it against the sandbox
    with 'reconcile plan --sandbox --config FILE'."""
    _echo(sample_config_text())


@sandbox.command()
@click.option(
    "--employees",
    type=click.IntRange(1, 200_000),
    default=60,
    show_default=True,
    help="How many people the sample company has.",
)
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="Seed of the sample company: the same seed serves the same people.",
)
@click.option(
    "--personio-port",
    type=click.IntRange(0, 65535),
    default=8701,
    show_default=True,
    help="Port of the Personio emulator (0: any free port).",
)
@click.option(
    "--lattice-port",
    type=click.IntRange(0, 65535),
    default=8702,
    show_default=True,
    help="Port of the Lattice emulator (0: any free port).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="An edited config (e.g. from 'reconcile sandbox config') to run against the "
    "emulators: checked first, and named in the instructions.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Lattice as its documentation reads at its most pessimistic (docs/decisions.md).",
)
def serve(
    employees: int,
    seed: int,
    personio_port: int,
    lattice_port: int,
    config_path: Path | None,
    strict: bool,
) -> None:
    """Serve the Personio and Lattice emulators on localhost until Ctrl-C.

    Prints a config snippet and the environment variables that point the tool at them.
    """
    with _expected_errors():
        if config_path is not None:
            load_config(config_path)
        box = build_sandbox(employees=employees, seed=seed, strict=strict)
    personio = _listen(box.personio, personio_port, "--personio-port")
    try:
        lattice = _listen(box.lattice, lattice_port, "--lattice-port")
    except BaseException:
        personio.stop()
        raise
    click.echo(
        f"Personio emulator: {personio.url}/v1   Lattice emulator: {lattice.url}/scim/v2\n"
        f"{employees} employees (seed {seed}). In {config_path or 'your config'}:\n\n"
        f"personio:\n  base_url: {personio.url}/v1\n"
        f"lattice:\n  base_url: {lattice.url}/scim/v2\n\n"
        f"and in your shell:\n"
        f"  export {ALLOW_ENDPOINTS_VARIABLE}={personio.url},{lattice.url}\n"
        f"  export PERSONIO_CLIENT_ID={box.personio_client_id} "
        f"PERSONIO_CLIENT_SECRET={box.personio_client_secret} "
        f"LATTICE_SCIM_TOKEN={box.lattice_token}\n\n"
        "(these are the emulators' own sandbox credentials, not secrets). Ctrl-C stops."
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        personio.stop()
        lattice.stop()


def _listen(handler: Handler, port: int, option: str) -> EmulatorServer:
    """``handler`` served on ``port``, or one line naming the taken port and the option."""
    try:
        return EmulatorServer(handler, port=port).start()
    except OSError as exc:
        _fail(
            ReconcilerError(
                f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc})",
                where="sandbox serve",
                fix=f"stop what uses port {port}, or pick another with {option} PORT "
                "(0 picks a free one)",
            )
        )


# ------------------------------------------------------------------------------------ comment


api_url_option = click.option(
    "--api-url",
    default=lambda: os.environ.get("GITHUB_API_URL", "https://api.github.com"),
    show_default="$GITHUB_API_URL or https://api.github.com",
    help="The GitHub API (GitHub Enterprise Server: https://HOST/api/v3).",
)


def _github_token(command: str) -> str:
    token = os.environ.get("GITHUB_TOKEN", "")
    if not token:
        raise ReconcilerError(
            "GITHUB_TOKEN is not set",
            where=f"reconcile {command}",
            fix="in a workflow, pass env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
        )
    return token


@cli.command()
@click.option("--repo", required=True, help="OWNER/NAME of the GitHub repository.")
@click.option("--pr", type=click.IntRange(1), required=True, help="Pull request number.")
@click.option(
    "--file",
    "body_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="The Markdown plan to post.",
)
@click.option(
    "--plan-json",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The JSON plan of the same run (plan --json-out): its checksum is recorded in the "
    "comment, hidden, for 'reconcile reviewed' to read back at merge.",
)
@click.option(
    "--commit",
    help="The commit the plan was computed for (the pull request's head), recorded with the "
    "checksum; default: the JSON plan's own context.commit. Needs --plan-json.",
)
@api_url_option
def comment(
    repo: str,
    pr: int,
    body_file: Path,
    plan_json: Path | None,
    commit: str | None,
    api_url: str,
) -> None:
    """Post the plan as ONE pull-request comment, updated in place on every push.

    Finds its earlier comment by a hidden marker. The token comes from GITHUB_TOKEN.
    """
    if commit is not None and plan_json is None:
        raise click.UsageError("--commit records what was reviewed: give --plan-json too")
    with _expected_errors():
        token = _github_token("comment")
        marker = MARKER
        if plan_json is not None:
            marker = f"{MARKER}\n{_reviewed_line(plan_json, commit)}"
        body = build_comment_body(body_file.read_text(encoding="utf-8"), marker=marker)
        result = upsert_pr_comment(repo=repo, pr=pr, body=body, token=token, api_url=api_url)
    click.echo(f"comment {result.action}: {result.url}")


def _reviewed_line(plan_json: Path, commit: str | None) -> str:
    """The hidden line naming the checksum of ``plan_json`` and the commit it was made for."""
    document = app.read_plan_file(plan_json)
    context = document.get("context")
    recorded = context.get("commit") if isinstance(context, dict) else None
    sha = (commit or "").strip().lower() or (recorded if isinstance(recorded, str) else None)
    try:
        return reviewed_marker(str(document["checksum"]), sha)
    except ValueError as exc:
        raise ReconcilerError(
            "not a commit id (7 to 64 hexadecimal digits)",
            where="--commit",
            fix="pass the pull request's head commit",
        ) from exc


@cli.command()
@click.option("--repo", required=True, help="OWNER/NAME of the GitHub repository.")
@click.option("--commit", required=True, help="The merged commit (in a push workflow: github.sha).")
@api_url_option
def reviewed(repo: str, commit: str, api_url: str) -> None:
    """Print the checksum recorded in the plan comment of the pull request merged as (or
    containing) --commit, for the merge workflow's 'apply --checksum'.

    Exit 0 with the checksum as the only line on stdout; exit 1 with nothing on stdout and one
    line on stderr when there is no such pull request, no plan comment written by a bot, or no
    checksum in it (the plan was not posted with 'comment --plan-json'). The token comes from
    GITHUB_TOKEN.
    """
    with _expected_errors():
        token = _github_token("reviewed")
        found = find_reviewed_checksum(repo=repo, commit=commit, token=token, api_url=api_url)
    if found.checksum is None:
        _say(f"error: {found.reason}")
        sys.exit(EXIT_ERROR)
    click.echo(found.checksum)


def main() -> None:
    # Outside standalone mode click returns --help's and --version's exit code instead of exiting.
    code = cli(prog_name="reconcile")
    sys.exit(code if isinstance(code, int) else EXIT_OK)
