"""Load the integration config: YAML → JSON Schema → cross-field checks → a frozen ``Config``.
Imports the stdlib, yaml, jsonschema, the core model and ``reconciler.errors``; no environ.

Every problem in a file is reported at once, each located by its YAML path and line. Messages
never repeat the value of a credential key (it may *be* the secret) nor a protected email.
``env:NAME`` references are resolved separately, by ``resolve_secret``, only when a command needs
the network; the caller passes the environment in.
"""

from __future__ import annotations

import codecs
import datetime as dt
import difflib
import json
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from functools import cache
from pathlib import Path
from typing import Any, NoReturn, cast

import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from reconciler.core.model import (
    IDENTITY_FIELDS,
    OPT_IN_FIELDS,
    STANDARD_FIELDS,
    Config,
    CustomAttribute,
    CustomType,
    FieldSetting,
    ForeignPolicy,
    LatticeSettings,
    PersonioSettings,
    ReactivatePolicy,
    SafetySettings,
    SecretRef,
    SyncSettings,
    Threshold,
    UnmanagedPolicy,
)
from reconciler.core.normalise import is_email
from reconciler.errors import ConfigError, ConfigProblem
from reconciler.sources.personio.profile import DEFAULT_BASE_URL as PERSONIO_BASE_URL
from reconciler.sources.personio.profile import PERSONIO
from reconciler.targets.lattice.profile import DEFAULT_BASE_URL as LATTICE_BASE_URL

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("config/integration.yaml")
DEFAULT_PERSONIO_BASE_URL = PERSONIO_BASE_URL
DEFAULT_LATTICE_BASE_URL = LATTICE_BASE_URL

#: The config's sections describe Personio as the source: its vocabulary comes from its profile.
SOURCE = PERSONIO

#: A config is a page of YAML; anything far larger is the wrong file (or a hostile one).
MAX_CONFIG_BYTES = 1_000_000

#: How many values the file may hold once YAML aliases (``*name``) are expanded: a real config
#: has a few thousand at most; an alias chain ("billion laughs") has billions in 5 KB.
MAX_EXPANDED_NODES = 100_000

#: Keys whose values are credential references; their values are never repeated in a message.
SECRET_PATHS: tuple[str, ...] = ("personio.client_id", "personio.client_secret", "lattice.token")

#: The variables each system's credential may be read from: a reference can never route one
#: system's secret to the other's host (the schema says the same; see docs/security.md).
SECRET_PREFIXES: Mapping[str, str] = {
    "personio.client_id": "PERSONIO_",
    "personio.client_secret": "PERSONIO_",
    "lattice.token": "LATTICE_",
}

_EXAMPLE_HINT = "see config/integration.yaml for a complete, commented example"

JsonPath = tuple[str | int, ...]
#: A problem before it is located: path, message, and its line when already known.
_Finding = tuple[JsonPath, str, int | None]


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def load_config(path: Path) -> Config:
    """Read, validate and build the config at ``path``; ``ConfigError`` lists every problem."""
    source = str(path)
    if path.is_dir():
        _fail(source, "the file is a directory — pass the path of the YAML config file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        _fail(source, f"file not found — create it ({_EXAMPLE_HINT}) or pass --config PATH")
    except PermissionError:
        _fail(source, "the file cannot be read: permission denied")
    except OSError as exc:
        _fail(source, f"the file cannot be read: {exc.strerror or type(exc).__name__}")
    return parse_config(raw, source)


def parse_config(text: str | bytes, source: str) -> Config:
    """Validate and build a config from its text; ``source`` names it in messages."""
    if len(text) > MAX_CONFIG_BYTES:
        _fail(source, f"the file is too large for a config (over {MAX_CONFIG_BYTES:,} bytes)")
    if isinstance(text, bytes):
        text = _decode(text, source)
    try:
        document = _parse_yaml(text, source)
        data = document.data
        if data is None:
            _fail(
                source,
                "the file is empty (only comments or blank lines) — it needs at least "
                f"version, personio and lattice; {_EXAMPLE_HINT}",
            )
        if not isinstance(data, dict):
            _fail(
                source,
                "the top level of the file must be a mapping of settings (version, personio, "
                f"lattice, …), not {_describe_value(data)}",
            )
        findings = [*document.findings, *_compute_schema_findings(data)]
        if not findings:
            # Cross-field checks assume the shape the schema guarantees.
            findings = _compute_cross_field_findings(data)
    except RecursionError:
        _fail(source, "the file is nested too deeply to be a config")
    if findings:
        raise ConfigError(source, _to_problems(findings, document.lines))
    config = _build_config(data)
    log.debug(
        "loaded config %s: %d custom attributes, %d standard fields managed",
        source,
        len(config.custom_attributes),
        sum(setting.enabled for setting in config.fields),
    )
    return config


#: Personio's form for ``X-Personio-App-ID`` values (docs/decisions.md, 2026-12-03).
_UPPER_SNAKE_CASE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")


def config_warnings(config: Config) -> tuple[ConfigProblem, ...]:
    """What a valid config should still change: each a path and a one-line fix, never fatal.

    ``validate``, ``plan``, ``apply`` and ``doctor`` show them; none stops a run.
    """
    warnings: list[ConfigProblem] = []
    app_id = config.personio.app_id
    if not _UPPER_SNAKE_CASE.fullmatch(app_id):
        suggestion = re.sub(r"[^A-Za-z0-9]+", "_", app_id).strip("_").upper()
        if not _UPPER_SNAKE_CASE.fullmatch(suggestion):
            suggestion = "LATTICE_SYNC"
        warnings.append(
            ConfigProblem(
                "personio.app_id",
                f"Personio expects X-Personio-App-ID in UPPER_SNAKE_CASE — write "
                f"app_id: {suggestion}",
            )
        )
    return tuple(warnings)


def resolve_secret(
    ref: SecretRef,
    environ: Mapping[str, str],
    path: str | None = None,
    *,
    source: str = "environment",
) -> str:
    """The value of the environment variable ``ref`` names, trimmed.

    ``path`` (e.g. ``personio.client_id``) and ``source`` (the config file) locate the reference
    in the error. The error never contains the value.
    """
    problem = _check_secret(ref, environ, path or str(ref))
    if problem is not None:
        raise ConfigError(source, [problem])
    log.debug("resolved %s from environment variable %s", path or ref, ref.env_name)
    # CI secrets pasted with a trailing newline are common; no credential contains whitespace.
    return environ[ref.env_name].strip()


@dataclass(frozen=True, slots=True)
class Credentials:
    """The three resolved secrets; ``repr`` shows none of them."""

    personio_client_id: str = field(repr=False)
    personio_client_secret: str = field(repr=False)
    lattice_token: str = field(repr=False)


def resolve_secrets(
    refs: Mapping[str, SecretRef], environ: Mapping[str, str], *, source: str = "environment"
) -> dict[str, str]:
    """Resolve several references (YAML path → reference), reporting every unset one at once."""
    problems = [
        problem
        for path, ref in refs.items()
        if (problem := _check_secret(ref, environ, path)) is not None
    ]
    if problems:
        raise ConfigError(source, problems)
    return {
        path: resolve_secret(ref, environ, path=path, source=source) for path, ref in refs.items()
    }


def resolve_credentials(
    config: Config, environ: Mapping[str, str], *, source: str = "environment"
) -> Credentials:
    """Resolve every credential reference of ``config``, reporting every unset variable at once."""
    values = resolve_secrets(
        {
            "personio.client_id": config.personio.client_id,
            "personio.client_secret": config.personio.client_secret,
            "lattice.token": config.lattice.token,
        },
        environ,
        source=source,
    )
    return Credentials(*values.values())


@cache
def load_schema() -> Mapping[str, Any]:
    """The integration config's JSON Schema, as shipped inside the package."""
    # Beside this module (``reconciler/schemas`` links to the repository's ``schemas/``), not via
    # importlib.resources: setuptools' editable finder does not serve package data through it.
    schema_file = Path(__file__).with_name("schemas") / "integration.schema.json"
    return cast(Mapping[str, Any], json.loads(schema_file.read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------------------------
# Reading: bytes → text → YAML data + the line of every key
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Document:
    data: object
    lines: Mapping[JsonPath, int]
    findings: tuple[_Finding, ...]  # problems found while reading (duplicate keys)


def _fail(source: str, message: str, line: int | None = None) -> NoReturn:
    raise ConfigError(source, [ConfigProblem("", message, line)])


def _decode(raw: bytes, source: str) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        _fail(source, "the file is UTF-16 text — save it as UTF-8")
    if b"\x00" in raw:
        _fail(source, "the file is binary, not YAML text — pass the path of the YAML config")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        _fail(source, "the file is not UTF-8 text — save it as UTF-8", line)


def _parse_yaml(text: str, source: str) -> _Document:
    try:
        return _compose_and_construct(text)
    except _TooManyValuesError:
        message = (
            f"the file expands to more than {MAX_EXPANDED_NODES:,} values through YAML aliases "
            "(*name) — a config needs far fewer; write the values out or remove the aliases"
        )
        raise ConfigError(source, [ConfigProblem("", message)]) from None
    except yaml.MarkedYAMLError as exc:
        # ``from None``: PyYAML's own text quotes the offending line, which may hold a secret.
        raise ConfigError(source, [_render_yaml_error(exc)]) from None
    except yaml.reader.ReaderError as exc:
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        line = text.count("\n", 0, exc.position) + 1
        message = f"the file contains a character YAML does not allow (#x{code:04x}) — remove it"
        raise ConfigError(source, [ConfigProblem("", message, line)]) from None
    except yaml.YAMLError:
        raise ConfigError(source, [ConfigProblem("", "the file is not valid YAML")]) from None


def _compose_and_construct(text: str) -> _Document:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return _Document(None, {}, ())
        _check_expanded_size(node)
        # Index the node tree before constructing: construction flattens merge keys in place.
        lines, duplicates = _index_lines(node)
        return _Document(loader.construct_document(node), lines, tuple(duplicates))
    finally:
        loader.dispose()


class _TooManyValuesError(Exception):
    """The node graph expands to more than ``MAX_EXPANDED_NODES`` values."""


def _check_expanded_size(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand beyond ``MAX_EXPANDED_NODES`` values, counting
    each shared node once per use but visiting it once (linear in the file, not the expansion)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path: met again, the alias is recursive
    # Iterative post-order: a deep file must not exhaust the stack here either.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not children_done:
            if id(node) in open_nodes:
                raise _TooManyValuesError  # a recursive alias expands forever
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        open_nodes.discard(id(node))
        size = 1 + sum(sizes.get(id(child), 1) for child in children)
        if size > MAX_EXPANDED_NODES:
            raise _TooManyValuesError
        sizes[id(node)] = size


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _render_yaml_error(exc: yaml.MarkedYAMLError) -> ConfigProblem:
    kind = (
        "the file is not plain YAML data"
        if isinstance(exc, yaml.constructor.ConstructorError)
        else "the file is not valid YAML"
    )
    message = f"{kind}: {exc.problem or 'syntax error'}"
    line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
    if exc.context and exc.context.startswith("expected"):
        # PyYAML words some errors the other way round: context "expected X", problem "but found Y".
        message = f"{kind}: {exc.context}, {exc.problem}"
    elif exc.context:
        context = exc.context
        if exc.context_mark is not None and exc.context_mark.line + 1 != line:
            context = f"{context} that starts on line {exc.context_mark.line + 1}"
        message = f"{message} ({context})"
    return ConfigProblem("", message, line)


def _index_lines(root: yaml.Node) -> tuple[dict[JsonPath, int], list[_Finding]]:
    """The line of every mapping key and list item, and every key written twice in a mapping."""
    lines: dict[JsonPath, int] = {}
    duplicates: list[_Finding] = []
    visited: set[int] = set()

    def visit(node: yaml.Node, path: JsonPath) -> None:
        if id(node) in visited:  # an alias: indexed once, where its anchor is
            return
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    continue
                key, line = key_node.value, key_node.start_mark.line + 1
                if key in first_seen:
                    duplicates.append(
                        (
                            (*path, key),
                            f"duplicate key '{_clip(key)}' (first on line {first_seen[key]}) — "
                            "YAML silently keeps only the last one; remove or merge one of them",
                            line,
                        )
                    )
                first_seen.setdefault(key, line)
                lines[(*path, key)] = line  # the last one wins, as in the data
                visit(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, index)] = item.start_mark.line + 1
                visit(item, (*path, index))

    visit(root, ())
    return lines, duplicates


# ---------------------------------------------------------------------------------------------
# Schema validation, rendered for people
# ---------------------------------------------------------------------------------------------


@cache
def _validator() -> Any:
    return Draft202012Validator(load_schema())


def _compute_schema_findings(data: object) -> list[_Finding]:
    findings: list[_Finding] = []
    for error in _validator().iter_errors(data):
        findings.extend(_render_schema_error(error))
    return findings


def _render_schema_error(error: Any) -> list[_Finding]:
    path: JsonPath = tuple(error.absolute_path)
    keyword: str = error.validator
    expected: Any = error.validator_value
    schema: Mapping[str, Any] = error.schema
    value: Any = error.instance
    custom_message: str | None = schema.get("errorMessage")

    if keyword == "additionalProperties":
        known = schema.get("properties", {})
        return [
            ((*path, key), _render_unknown_key(key, list(known), path), None)
            for key in value
            if key not in known
        ]
    if keyword == "required":
        return [
            ((*path, key), _render_missing_key(key, schema["properties"][key]), None)
            for key in expected
            if key not in value
        ]
    if keyword == "pattern":
        message = schema.get("patternErrorMessage") or custom_message
        return [(path, message or "does not have the expected form", None)]
    if keyword in {"type", "const", "minProperties"} and custom_message:
        return [(path, custom_message, None)]
    return [(path, _render_constraint(keyword, expected, value, path), None)]


def _render_constraint(keyword: str, expected: Any, value: Any, path: JsonPath) -> str:
    if keyword == "type":
        wanted = [expected] if isinstance(expected, str) else list(expected)
        words = " or ".join(_TYPE_WORDS[t] for t in wanted)
        if "integer" in wanted and isinstance(value, float):
            return f"must be {words} (it is {_number(value)})"
        message = f"must be {words}, not {_describe_value(value)}"
        if "string" in wanted and isinstance(value, int | float | bool | dt.date):
            message += " — put it in quotes to keep it as text"
        return message
    if keyword == "const":
        return f"must be {expected}"
    if keyword == "enum":
        allowed = ", ".join(str(option) for option in expected)
        shown = _clip(value) if isinstance(value, str) and not _is_secret(path) else None
        if shown is None:
            return f"must be one of: {allowed}"
        return f"'{shown}' is not allowed — use one of: {allowed}"
    if keyword == "minLength":
        return "must not be empty" if expected == 1 else f"must be at least {expected} characters"
    if keyword == "maxLength":
        return f"must be at most {expected} characters (it has {len(value)})"
    if keyword == "minItems":
        return f"must list at least {expected} value{'s' if expected != 1 else ''}"
    if keyword == "uniqueItems":
        first, second = _first_repeat(value)
        return f"lists the same value twice (entries [{first}] and [{second}]) — remove one"
    if keyword in _BOUND_WORDS:
        return f"must be {_BOUND_WORDS[keyword]} {_number(expected)} (it is {_number(value)})"
    if keyword == "minProperties":
        return f"must set at least {expected} key{'s' if expected != 1 else ''}"
    return f"does not satisfy the schema ({keyword})"


_TYPE_WORDS: Mapping[str, str] = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "empty",
}

_BOUND_WORDS: Mapping[str, str] = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "more than",
    "exclusiveMaximum": "less than",
}


def _render_unknown_key(key: object, allowed: Sequence[str], path: JsonPath) -> str:
    text = _clip(key)
    homes = [home for home in _key_homes().get(text, ()) if home != _render_path(path)]
    if homes and len(homes) <= 2:
        return f"unknown key '{text}' — it belongs {' or '.join(map(_render_home, homes))}"
    close = difflib.get_close_matches(text.lower(), allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{text}' — did you mean '{close[0]}'?"
    return f"unknown key '{text}' — allowed here: {', '.join(allowed)}"


def _render_missing_key(key: str, schema: Mapping[str, Any]) -> str:
    examples = schema.get("examples", [])
    if examples and isinstance(examples[0], str | int | float):
        return f"required key is missing — add {key}: {examples[0]}"
    return f"required section is missing — add it; {_EXAMPLE_HINT}"


@cache
def _key_homes() -> Mapping[str, tuple[str, ...]]:
    """Where each key of the schema belongs, to spot a key indented at the wrong level."""
    homes: dict[str, list[str]] = {}
    definitions = load_schema().get("$defs", {})

    def visit(schema: Mapping[str, Any], where: str) -> None:
        if "$ref" in schema:
            schema = {**definitions[schema["$ref"].rsplit("/", 1)[-1]], **schema}
        for key, child in schema.get("properties", {}).items():
            homes.setdefault(key, []).append(where)
            visit(child, f"{where}.{key}" if where else key)
        if isinstance(schema.get("items"), dict):
            visit(schema["items"], f"{where}[]")

    visit(load_schema(), "")
    return {key: tuple(places) for key, places in homes.items()}


def _render_home(where: str) -> str:
    if not where:
        return "at the top level"
    if where.endswith("[]"):
        return f"in each entry of '{where[:-2]}'"
    return f"under '{where}'"


# ---------------------------------------------------------------------------------------------
# Cross-field checks (run only on data the schema accepted)
# ---------------------------------------------------------------------------------------------

#: Lattice's built-in fields under the names people call them (normalised), and what owns them.
_BUILT_IN_LATTICE_FIELDS: Mapping[str, str] = {
    **{name: name for name in (*STANDARD_FIELDS, *IDENTITY_FIELDS)},
    "nickname": "preferred_name",
    "job_title": "title",
    "birthdate": "birth_date",
    "birthday": "birth_date",
    "sexualorientation": "sexual_orientation",  # Lattice's key, sexualOrientation
    "work_email": "email",
    "given_name": "first_name",
    "family_name": "last_name",
    "name": "first_name",
    "full_name": "first_name",
}


def _compute_cross_field_findings(data: Mapping[str, Any]) -> list[_Finding]:
    return [
        *_check_numbers_are_finite(data),
        *_check_lattice_attributes_are_unique(data),
        *_check_custom_attributes_are_not_standard_fields(data),
        *_check_standard_field_sources_are_unique(data),
        *_check_protected_emails(data),
    ]


def _check_numbers_are_finite(data: object, path: JsonPath = ()) -> Iterator[_Finding]:
    # YAML's ``.nan`` passes every minimum and maximum, so the schema cannot refuse it.
    if isinstance(data, float) and math.isnan(data):
        yield path, "must be a number, not .nan", None
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _check_numbers_are_finite(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _check_numbers_are_finite(value, (*path, index))


def _check_lattice_attributes_are_unique(data: Mapping[str, Any]) -> Iterator[_Finding]:
    # Lattice matches display names without regard to case, so two mappings would fight.
    first_index: dict[str, int] = {}
    for index, mapping in enumerate(data.get("custom_attributes", [])):
        name: str = mapping["lattice"]
        seen = first_index.setdefault(name.casefold(), index)
        if seen != index:
            yield (
                ("custom_attributes", index, "lattice"),
                f"Lattice attribute '{name}' is already mapped by custom_attributes[{seen}] — "
                "map each Lattice attribute once",
                None,
            )


def _check_custom_attributes_are_not_standard_fields(data: Mapping[str, Any]) -> Iterator[_Finding]:
    for index, mapping in enumerate(data.get("custom_attributes", [])):
        name: str = mapping["lattice"]
        owner = _BUILT_IN_LATTICE_FIELDS.get(re.sub(r"[\s_-]+", "_", name.casefold()))
        if owner is None:
            continue
        if owner in IDENTITY_FIELDS:
            fix = "it is always synced, so remove this mapping"
        else:
            fix = (
                f"use fields.{owner} instead (e.g. fields.{owner}: "
                f"{{source: {mapping['personio']}}})"
            )
        yield (
            ("custom_attributes", index, "lattice"),
            f"'{name}' is a standard Lattice field, not a custom attribute — {fix}",
            None,
        )


def _check_standard_field_sources_are_unique(data: Mapping[str, Any]) -> Iterator[_Finding]:
    # One Personio attribute feeding two standard fields is almost always a copy-paste slip.
    fields: Mapping[str, Any] = data.get("fields", {})
    fed_by: dict[str, str] = {}
    for name in STANDARD_FIELDS:
        default_source = SOURCE.default_sources[name]
        setting = fields.get(name, name not in OPT_IN_FIELDS)
        if setting is False:
            continue
        source: str = setting["source"] if isinstance(setting, dict) else default_source
        first = fed_by.setdefault(source.casefold(), name)
        if first == name:
            continue
        # Point at the field whose ``source`` was written, not at a default.
        at = name if isinstance(setting, dict) else first
        other = first if at == name else name
        yield (
            ("fields", at, "source"),
            f"Personio attribute '{source}' already feeds fields.{other} — each standard field "
            "needs its own source",
            None,
        )


def _check_protected_emails(data: Mapping[str, Any]) -> Iterator[_Finding]:
    protected: Sequence[str] = data.get("sync", {}).get("protected", [])
    for index, email in enumerate(protected):
        if not is_email(email.strip()):
            yield (
                ("sync", "protected", index),
                "is not a valid email address — write it as name@domain.tld",
                None,
            )


# ---------------------------------------------------------------------------------------------
# Building the Config
# ---------------------------------------------------------------------------------------------


def _build_config(data: Mapping[str, Any]) -> Config:
    personio: Mapping[str, Any] = data["personio"]
    lattice: Mapping[str, Any] = data["lattice"]
    return Config(
        personio=PersonioSettings(
            base_url=personio.get("base_url", DEFAULT_PERSONIO_BASE_URL).rstrip("/"),
            client_id=_parse_secret_ref(personio["client_id"]),
            client_secret=_parse_secret_ref(personio["client_secret"]),
            app_id=personio["app_id"],
            partner_id=personio.get("partner_id"),
        ),
        lattice=LatticeSettings(
            base_url=lattice.get("base_url", DEFAULT_LATTICE_BASE_URL).rstrip("/"),
            token=_parse_secret_ref(lattice["token"]),
            **(
                {"max_requests_per_second": float(lattice["max_requests_per_second"])}
                if "max_requests_per_second" in lattice
                else {}
            ),
        ),
        sync=_build_sync(data.get("sync", {})),
        fields=_build_fields(data.get("fields", {})),
        custom_attributes=tuple(
            CustomAttribute(
                personio=mapping["personio"],
                lattice=mapping["lattice"],
                type=cast(CustomType, mapping.get("type", "text")),
                sensitive=mapping.get("sensitive", False),
            )
            for mapping in data.get("custom_attributes", [])
        ),
        safety=_build_safety(data.get("safety", {})),
        version=int(data["version"]),
    )


def _parse_secret_ref(reference: str) -> SecretRef:
    return SecretRef(reference.removeprefix("env:"))


def _build_sync(sync: Mapping[str, Any]) -> SyncSettings:
    defaults = SyncSettings()
    employee_types = sync.get("employee_types", defaults.employee_types)
    statuses = sync.get("statuses", defaults.statuses)
    return SyncSettings(
        employee_types=tuple(value for value in SOURCE.employment_types if value in employee_types),
        statuses=tuple(value for value in SOURCE.statuses if value in statuses),
        unmanaged_users=cast(
            UnmanagedPolicy, sync.get("unmanaged_users", defaults.unmanaged_users)
        ),
        protected=frozenset(email.strip().casefold() for email in sync.get("protected", [])),
        foreign_users=cast(ForeignPolicy, sync.get("foreign_users", defaults.foreign_users)),
        reactivate=cast(ReactivatePolicy, sync.get("reactivate", defaults.reactivate)),
    )


def _build_fields(fields: Mapping[str, Any]) -> tuple[FieldSetting, ...]:
    settings = []
    for name in STANDARD_FIELDS:
        default_source = SOURCE.default_sources[name]
        # Opt-in fields (gender & co) are off unless the file switches them on.
        setting = fields.get(name, name not in OPT_IN_FIELDS)
        if isinstance(setting, dict):
            settings.append(FieldSetting(name, True, setting["source"]))
        else:
            settings.append(FieldSetting(name, bool(setting), default_source))
    return tuple(settings)


def _build_safety(safety: Mapping[str, Any]) -> SafetySettings:
    # Follows the fields of SafetySettings, so a new rule's setting needs no edit here: the
    # schema has already refused unknown keys and checked the types.
    defaults = SafetySettings()
    values: dict[str, Any] = {}
    for setting in dataclass_fields(SafetySettings):
        default = getattr(defaults, setting.name)
        given = safety.get(setting.name)
        if isinstance(default, Threshold):
            values[setting.name] = _build_threshold(given, default)
        else:
            values[setting.name] = default if given is None else int(given)
    return replace(defaults, **values)


def _build_threshold(given: Mapping[str, Any] | None, default: Threshold) -> Threshold:
    # A threshold written in the file replaces the default as a whole: {percent: 30} means
    # "no count limit", not "the default count plus 30 %".
    if given is None:
        return default
    count, percent = given.get("count"), given.get("percent")
    return Threshold(
        count=None if count is None else int(count),
        percent=None if percent is None else float(percent),
    )


# ---------------------------------------------------------------------------------------------
# Small pure renderers
# ---------------------------------------------------------------------------------------------


def _to_problems(
    findings: Sequence[_Finding], lines: Mapping[JsonPath, int]
) -> list[ConfigProblem]:
    """Locate, de-duplicate (jsonschema reports each missing key once per ``required``) and sort."""
    located: dict[tuple[JsonPath, str], int | None] = {}
    for path, message, line in findings:
        located.setdefault((path, message), line if line is not None else _line_of(path, lines))
    ordered = sorted(located.items(), key=lambda item: (_path_sort_key(item[0][0]), item[0][1]))
    return [ConfigProblem(_render_path(path), message, line) for (path, message), line in ordered]


def _line_of(path: JsonPath, lines: Mapping[JsonPath, int]) -> int | None:
    """The line of ``path``, or of its nearest ancestor written in the file."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def _render_path(path: JsonPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _path_sort_key(path: JsonPath) -> tuple[tuple[int, int, str], ...]:
    return tuple(
        (0, part, "") if isinstance(part, int) and not isinstance(part, bool) else (1, 0, str(part))
        for part in path
    )


def _is_secret(path: JsonPath) -> bool:
    return _render_path(path) in SECRET_PATHS


def _check_secret(ref: SecretRef, environ: Mapping[str, str], path: str) -> ConfigProblem | None:
    prefix = SECRET_PREFIXES.get(path)
    if prefix is not None and not ref.env_name.startswith(prefix):
        return ConfigProblem(
            path, f"must name a {prefix}* variable, not {ref.env_name} — rename the reference"
        )
    value = environ.get(ref.env_name)
    if value is not None and value.strip():
        return None
    state = "is not set" if value is None else "is empty"
    return ConfigProblem(
        path,
        f"environment variable {ref.env_name} {state} — export it, or set it as a repository "
        "secret in CI",
    )


def _describe_value(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dt.date):  # datetime is a date too
        return "a date"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _first_repeat(values: Sequence[object]) -> tuple[int, int]:
    for second, value in enumerate(values):
        for first in range(second):
            if values[first] == value:
                return first, second
    return 0, 0


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _clip(value: object, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
