"""How one run reaches both systems: endpoints, secrets, transports, retry policy and rates.
Imports httpx (for the transport type) and the HTTP edge only.

``app.connect`` builds one from the config and the environment; the sandbox builds its own from
its emulators, so the use cases never know whether they talk to the real APIs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from reconciler.edges.http import DEFAULT_REQUESTS_PER_SECOND, DEFAULT_RETRY, RetryPolicy


@dataclass(frozen=True)
class Connections:
    """Endpoints and secrets of both systems (secrets never in ``repr``)."""

    personio_base_url: str
    personio_client_id: str = field(repr=False)
    personio_client_secret: str = field(repr=False)
    lattice_base_url: str = ""
    lattice_token: str = field(repr=False, default="")
    personio_transport: httpx.BaseTransport | None = None
    lattice_transport: httpx.BaseTransport | None = None
    retry: RetryPolicy = DEFAULT_RETRY
    #: requests per second towards each system; 0 means unlimited (the in-process sandbox)
    personio_rate: float = DEFAULT_REQUESTS_PER_SECOND
    lattice_rate: float = DEFAULT_REQUESTS_PER_SECOND
