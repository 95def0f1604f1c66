"""Benchmark: list 10,000 Lattice users through LatticeReader, in-process and over localhost HTTP.
Imports the Lattice SCIM client and emulator; run with `python benchmarks/bench_lattice.py`.

Asserts the request count is the minimum the API allows (ceil(N / 100) pages) and prints
wall time (untraced) and peak Python memory (tracemalloc, a second listing) of the listing
alone; with the in-process emulator the peak includes the emulator's own response bodies.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
import tracemalloc
from dataclasses import dataclass

import httpx

from reconciler.edges.http import NO_WAIT_RETRY
from reconciler.sandbox.lattice_emulator import LatticeEmulator
from reconciler.sandbox.transport import EmulatorServer
from reconciler.targets.lattice.profile import LATTICE_URN
from reconciler.targets.scim.client import LatticeReader
from reconciler.targets.scim.resources import ENTERPRISE_URN

TOKEN = "bench-token"
PAGE_SIZE = 100


@dataclass(frozen=True)
class Result:
    mode: str
    users: int
    requests: int
    seconds: float
    peak_mib: float


def build_emulator(count: int) -> LatticeEmulator:
    """``count`` realistic users: name, title, department, manager, dates, two custom values."""
    lattice = LatticeEmulator(
        token=TOKEN, custom_attributes={"Cost Center": "text", "Level": "number"}
    )
    for n in range(1, count + 1):
        lattice.seed_user(
            {
                "externalId": str(n),
                "userName": f"person{n}@example.com",
                "active": n % 50 != 0,
                "name": {"givenName": f"Given{n}", "familyName": f"Family{n}"},
                "emails": [{"value": f"person{n}@example.com", "primary": True, "type": "work"}],
                "title": "Engineer",
                ENTERPRISE_URN: {
                    "department": f"Dept {n % 40}",
                    **({"manager": {"value": f"u_{max(1, n // 10):06d}"}} if n > 1 else {}),
                },
                LATTICE_URN: {
                    "startDate": "2020-01-01",
                    "birthDate": "1990-01-01",
                    "Cost Center": f"CC-{n % 150}",
                    "Level": n % 7,
                },
            }
        )
    return lattice


def list_once(
    lattice: LatticeEmulator, base_url: str, transport: httpx.BaseTransport | None
) -> tuple[int, int]:
    """One full listing; returns (users, requests) after checking the request count."""
    reads_before = lattice.reads()
    with LatticeReader(
        base_url=base_url,
        token=TOKEN,
        transport=transport,
        retry=NO_WAIT_RETRY,
        requests_per_second=0,
        page_size=PAGE_SIZE,
    ) as reader:
        users = reader.fetch_users()
        requests = reader.request_count
    expected_requests = math.ceil(len(lattice.users) / PAGE_SIZE)
    assert len(users) == len(lattice.users), (len(users), len(lattice.users))
    assert requests == expected_requests, (requests, expected_requests)
    assert lattice.reads() - reads_before == expected_requests
    return len(users), requests


def measure(
    mode: str, lattice: LatticeEmulator, base_url: str, transport: httpx.BaseTransport | None
) -> Result:
    # Timed and traced separately: tracemalloc slows allocation-heavy code several times over.
    started = time.perf_counter()
    users, requests = list_once(lattice, base_url, transport)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    list_once(lattice, base_url, transport)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Result(mode, users, requests, seconds, peak / 2**20)


def collect(count: int) -> list[Result]:
    """Both transports over one emulator of ``count`` users (the assertions included)."""
    lattice = build_emulator(count)
    results = [measure("in-process", lattice, "http://lattice.test/scim/v2", lattice.transport())]
    with EmulatorServer(lattice) as server:
        results.append(measure("localhost HTTP", lattice, f"{server.url}/scim/v2", None))
    return results


def run(quick: bool = False) -> list[dict[str, object]]:
    """The suite's entry point (``python -m benchmarks``): 10,000 users, 1,000 if quick."""
    return [dataclasses.asdict(result) for result in collect(1_000 if quick else 10_000)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()

    results = collect(args.users)
    print(f"{'mode':<16}{'users':>8}{'requests':>10}{'seconds':>10}{'peak MiB':>10}")
    for result in results:
        print(
            f"{result.mode:<16}{result.users:>8}{result.requests:>10}"
            f"{result.seconds:>10.2f}{result.peak_mib:>10.1f}"
        )


if __name__ == "__main__":
    main()
