"""Where a credential may be sent: the built-in API hosts over https, plus the origins the
operator allows. Imports the standard library, the profiles, the core model and errors; no environ.

The config file says *which* URL; it can never widen *where* credentials may go. Anything
beyond ``api.personio.de``, ``api.latticehq.com`` and ``api.emea.latticehq.com`` (https, port
443) needs ``RECONCILE_ALLOW_ENDPOINTS``, a comma-separated list of origins that only the CLI
reads from the environment and passes in. A user name or password in the URL (``…@host``), a
query string or a fragment is refused whatever the allow-list says. See docs/security.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from reconciler.core.model import Config
from reconciler.errors import ConfigError, ConfigProblem
from reconciler.sources.personio.profile import ALLOWED_HOSTS as PERSONIO_HOSTS
from reconciler.targets.lattice.profile import ALLOWED_HOSTS as LATTICE_HOSTS

#: The one variable that widens the allow-list (read by the CLI only).
ALLOW_ENDPOINTS_VARIABLE = "RECONCILE_ALLOW_ENDPOINTS"

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: A host name or IPv4 address, or a bracketed IPv6 address, then an optional port.
_NETLOC = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
)
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")


def parse_allowed_origins(text: str | None) -> frozenset[str]:
    """The origins in ``RECONCILE_ALLOW_ENDPOINTS`` (``http://127.0.0.1:8701,https://proxy``).

    Each entry must be ``scheme://host[:port]`` with nothing else; ``ConfigError`` names every
    malformed one. Empty entries (a trailing comma) are ignored.
    """
    origins: set[str] = set()
    problems: list[ConfigProblem] = []
    for index, entry in enumerate(part.strip() for part in (text or "").split(",")):
        if not entry:
            continue
        origin = _origin(entry.rstrip("/"), require_bare=True)
        if origin is None:
            problems.append(
                ConfigProblem(
                    f"entry {index + 1}",
                    "is not an origin — write scheme://host[:port] with no path, user, query "
                    "or fragment, e.g. http://127.0.0.1:8701",
                )
            )
        else:
            origins.add(origin)
    if problems:
        raise ConfigError(ALLOW_ENDPOINTS_VARIABLE, problems)
    return frozenset(origins)


def check_endpoint(
    url: str, *, system: str, built_in: Iterable[str], allowed: frozenset[str]
) -> str | None:
    """Why ``url`` may not receive ``system``'s credential, as one line, or ``None``.

    The line never repeats a user name or password the URL carried.
    """
    hosts = tuple(built_in)
    example = f"https://{hosts[0]}/…"
    if _UNSAFE_CHARACTERS.search(url):
        return "contains a space, control character or backslash — write a plain URL"
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return (
            "must not contain a user name or password (…@host): the text before @ is not the "
            f"host — remove it and write {example}"
        )
    if parts.query or url.endswith("?"):
        return "must not contain a query string (?…) — remove it"
    if parts.fragment or "#" in url:
        return "must not contain a fragment (#…) — remove it"
    origin = _origin(url, require_bare=False)
    if origin is None:
        return f"is not an http(s) URL with a plain host name — write it like {example}"
    if origin in allowed:
        return None
    scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    if host in hosts and scheme == "https" and port in (None, 443):
        return None
    if host in hosts:
        return f"must use https on port 443 — write {example}"
    return (
        f"{origin} is not a {system} API host (built in: {', '.join(hosts)}) — use one of "
        f"those, or, for a sandbox, proxy or test, allow it outside the config with "
        f"export {ALLOW_ENDPOINTS_VARIABLE}={origin}"
    )


def check_config_endpoints(
    config: Config, allowed: frozenset[str], *, source: str, personio_only: bool = False
) -> None:
    """Refuse a config whose base URLs would send a credential anywhere not allowed.

    ``ConfigError`` carries one problem per refused endpoint (``personio.base_url``,
    ``lattice.base_url``).
    """
    endpoints = [("personio.base_url", config.personio.base_url, "Personio", PERSONIO_HOSTS)]
    if not personio_only:
        endpoints.append(("lattice.base_url", config.lattice.base_url, "Lattice", LATTICE_HOSTS))
    problems = [
        ConfigProblem(path, problem)
        for path, url, system, hosts in endpoints
        if (problem := check_endpoint(url, system=system, built_in=hosts, allowed=allowed))
        is not None
    ]
    if problems:
        raise ConfigError(source, problems)


def _origin(url: str, *, require_bare: bool) -> str | None:
    """``scheme://host[:port]`` in canonical form (lower case, default port left out)."""
    if _UNSAFE_CHARACTERS.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not _NETLOC.fullmatch(parts.netloc) or not parts.hostname:
        return None
    if require_bare and (parts.path or parts.query or parts.fragment):
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    shown_port = "" if port is None or port == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{shown_port}"
