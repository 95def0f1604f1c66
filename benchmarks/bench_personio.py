"""Benchmark: read 10,000 Personio employees through PersonioClient, in-process and over HTTP.
Imports the Personio client and emulator; run with `python benchmarks/bench_personio.py`.

Asserts the request count is the minimum the API allows (1 auth + ceil(N / 100) pages) and
prints wall time (untraced) and peak Python memory (tracemalloc, a second read) of the read
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
from reconciler.sandbox.company import generate_company
from reconciler.sandbox.personio_emulator import PersonioCredential, PersonioEmulator
from reconciler.sandbox.transport import EmulatorServer
from reconciler.sources.personio.client import PAGE_SIZE, PersonioClient

CLIENT_ID = "bench-client"
SECRET = "bench-secret"


@dataclass(frozen=True)
class Result:
    mode: str
    employees: int
    requests: int
    auth_calls: int
    seconds: float
    peak_mib: float


def read_once(
    personio: PersonioEmulator,
    base_url: str,
    transport: httpx.BaseTransport | None,
    concurrency: int,
) -> tuple[int, int, int]:
    """One full read; returns (employees, requests, auth calls) after checking the count."""
    with PersonioClient(
        base_url=base_url,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        app_id="bench",
        transport=transport,
        retry=NO_WAIT_RETRY,
        requests_per_second=0,
        max_concurrency=concurrency,
    ) as client:
        snapshot = client.fetch_employees()
        requests, auth_calls = client.request_count, client.auth_calls
    total = personio.total
    expected = 1 + math.ceil(total / PAGE_SIZE)
    assert len(snapshot.employees) + len(snapshot.problems) == total, "employees lost"
    assert requests == expected, f"{requests} requests, expected {expected}"
    assert auth_calls == 1, f"{auth_calls} auth calls"
    return len(snapshot.employees), requests, auth_calls


def measure(
    mode: str,
    personio: PersonioEmulator,
    base_url: str,
    transport: httpx.BaseTransport | None,
    concurrency: int,
) -> Result:
    start = time.perf_counter()
    employees, requests, auth_calls = read_once(personio, base_url, transport, concurrency)
    seconds = time.perf_counter() - start
    # Memory in a second, traced read: tracing slows everything down, so it is not timed.
    tracemalloc.start()
    try:
        read_once(personio, base_url, transport, concurrency)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Result(mode, employees, requests, auth_calls, seconds, peak / 2**20)


def collect(employees: int, concurrency: int) -> list[Result]:
    """Both transports over one emulator of ``employees`` people (the assertions included)."""
    company = generate_company(employees, seed=7)
    personio = PersonioEmulator(
        company.employees,
        company.attributes,
        credentials={CLIENT_ID: PersonioCredential(SECRET)},
    )
    results = [
        measure(
            "in-process",
            personio,
            "http://personio.bench/v1",
            personio.transport(),
            concurrency,
        )
    ]
    with EmulatorServer(personio) as server:
        results.append(measure("localhost HTTP", personio, f"{server.url}/v1", None, concurrency))
    return results


def run(quick: bool = False) -> list[dict[str, object]]:
    """The suite's entry point (``python -m benchmarks``): 10,000 employees, 1,000 if quick."""
    return [dataclasses.asdict(result) for result in collect(1_000 if quick else 10_000, 4)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    results = collect(args.employees, args.concurrency)
    print("| transport | employees | requests (1 auth + pages) | wall time | peak memory |")
    print("|---|---:|---:|---:|---:|")
    for result in results:
        print(
            f"| {result.mode} | {result.employees:,} | {result.requests} "
            f"(1 + {result.requests - 1}) | {result.seconds:.2f} s | {result.peak_mib:.1f} MiB |"
        )


if __name__ == "__main__":
    main()
