"""The HTTP edge on its own: rate limiter (fake clock), the one retry loop (respx), deadlines."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import respx

from reconciler.edges.http import (
    NO_WAIT_RETRY,
    Deadline,
    RateLimiter,
    RetryPolicy,
    Sender,
    Timeouts,
    build_client,
)
from reconciler.errors import (
    ApiError,
    RateLimitedError,
    ServerError,
    StoppedError,
    TransportError,
)

BASE = "https://api.example.com/v1"


class FakeClock:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


# ---------------------------------------------------------------------------------------------
# Rate limiter
# ---------------------------------------------------------------------------------------------


def test_a_burst_goes_at_once_then_requests_are_spaced_by_one_over_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5.0, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
    assert clock.sleeps == []  # the burst needs no waiting
    limiter.acquire()
    limiter.acquire()
    assert clock.sleeps == pytest.approx([0.2, 0.2])


def test_steady_spacing_holds_over_many_requests() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4.0, burst=1, clock=clock, sleep=clock.sleep)
    start = clock()
    for _ in range(21):
        limiter.acquire()
    # the first goes at once, the other 20 one every 0.25 s
    assert clock() - start == pytest.approx(5.0)
    assert all(wait == pytest.approx(0.25) for wait in clock.sleeps)


def test_idle_time_refills_the_burst_but_never_beyond_it() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, burst=2, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    clock.now += 60.0  # a long pause earns at most ``burst`` tokens
    for _ in range(3):
        limiter.acquire()
    assert clock.sleeps == pytest.approx([0.5])


def test_threads_share_one_budget() -> None:
    # Each thread's wait is its own reservation: the waits handed out are 0.1, 0.2, … apart,
    # whichever thread gets which.
    clock = FakeClock()
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    limiter = RateLimiter(10.0, burst=2, clock=clock, sleep=record)
    threads = [threading.Thread(target=limiter.acquire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([0.1 * n for n in range(1, 7)])


def test_a_rate_of_zero_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(0.0, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        limiter.acquire()
    assert clock.sleeps == []


def test_a_set_stop_event_ends_the_limiters_wait() -> None:
    limiter = RateLimiter(0.01, burst=1)  # a 100 s spacing
    stop = threading.Event()
    limiter.acquire(stop)
    stop.set()
    started = time.monotonic()
    limiter.acquire(stop)
    assert time.monotonic() - started < 1.0


# ---------------------------------------------------------------------------------------------
# Deadline
# ---------------------------------------------------------------------------------------------


def test_a_deadline_counts_down_on_its_clock_and_stops_at_zero() -> None:
    clock = FakeClock()
    deadline = Deadline.after(10.0, clock=clock)
    assert deadline.remaining() == 10.0
    assert not deadline.expired
    clock.sleep(7.5)
    assert deadline.remaining() == 2.5
    clock.sleep(5.0)
    assert deadline.remaining() == 0.0
    assert deadline.expired


def test_an_attempts_timeouts_never_exceed_what_is_left() -> None:
    timeouts = Timeouts(connect=10.0, read=30.0, total=60.0)
    assert timeouts.for_attempt(100.0) == httpx.Timeout(30.0, connect=10.0)
    assert timeouts.for_attempt(4.0) == httpx.Timeout(4.0, connect=4.0)


# ---------------------------------------------------------------------------------------------
# The retry loop
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def sender(
    *,
    retry: RetryPolicy = NO_WAIT_RETRY,
    sleeps: list[float] | None = None,
    transport: httpx.BaseTransport | None = None,
    **options: object,
) -> Sender:
    waits = sleeps if sleeps is not None else []
    options.setdefault("sleep", waits.append)
    return Sender(
        build_client(BASE, transport=transport),
        "example",
        retry=retry,
        rng=random.Random(1),
        **options,  # type: ignore[arg-type]
    )


def not_json() -> httpx.Response:
    return httpx.Response(200, content=b'{"data": [', headers={"Content-Type": "application/json"})


def test_one_get_sends_at_most_max_attempts_whatever_mix_of_failures() -> None:
    answers = [
        httpx.Response(503),
        not_json(),
        httpx.Response(429),
        not_json(),
        httpx.Response(503),
        httpx.Response(200, json={"ok": True}),  # would be the 6th request: never sent
    ]
    with respx.mock(base_url=BASE) as router:
        route = router.get("/things").mock(side_effect=answers)
        with pytest.raises(ServerError) as caught:
            sender().get_json("/things")
    assert route.call_count == 5
    assert caught.value.attempts == 5
    assert str(caught.value) == "example GET /things → 503: HTTP 503 (gave up after 5 attempts)"


@pytest.mark.parametrize("last", ["bad_json", "429"])
def test_the_last_failure_is_the_one_reported(last: str) -> None:
    final = not_json() if last == "bad_json" else httpx.Response(429)
    with respx.mock(base_url=BASE) as router:
        router.get("/things").mock(side_effect=[httpx.Response(503), final])
        with pytest.raises(ApiError) as caught:
            sender(retry=RetryPolicy(max_attempts=2, **_no_wait())).get_json("/things")
    expected = TransportError if last == "bad_json" else RateLimitedError
    assert type(caught.value) is expected
    assert caught.value.attempts == 2


def _no_wait() -> dict[str, float]:
    return {"base_delay": 0.0, "max_delay": 0.0, "min_rate_limit_delay": 0.0}


def test_bad_json_then_success_costs_two_requests_and_reports_two_attempts(
    api: respx.MockRouter,
) -> None:
    api.get("/things").mock(side_effect=[not_json(), httpx.Response(200, json=[1, 2])])
    reply = sender().request("GET", "/things", expect_json=True)
    assert reply.payload == [1, 2]
    assert reply.attempts == 2


def test_retry_after_in_seconds_is_waited(api: respx.MockRouter) -> None:
    api.get("/things").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(503, headers={"Retry-After": "7"}),
            httpx.Response(200, json={}),
        ]
    )
    sleeps: list[float] = []
    policy = RetryPolicy(base_delay=100.0, max_delay=30.0, jitter=False)
    sender(retry=policy, sleeps=sleeps).get_json("/things")
    assert sleeps == [3.0, 7.0]


def test_retry_after_as_an_http_date_is_waited(api: respx.MockRouter) -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    api.get("/things").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": when}), httpx.Response(200)]
    )
    sleeps: list[float] = []
    sender(retry=RetryPolicy(jitter=False), sleeps=sleeps).send("GET", "/things")
    assert len(sleeps) == 1
    assert 17.0 < sleeps[0] <= 20.0


def test_a_long_retry_after_is_capped_at_max_delay(api: respx.MockRouter) -> None:
    api.get("/things").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "3600"}), httpx.Response(200)]
    )
    sleeps: list[float] = []
    sender(retry=RetryPolicy(max_delay=30.0), sleeps=sleeps).send("GET", "/things")
    assert sleeps == [30.0]


def test_a_429_without_retry_after_waits_at_least_one_second(api: respx.MockRouter) -> None:
    api.get("/things").mock(
        side_effect=[httpx.Response(429), httpx.Response(503), httpx.Response(200)]
    )
    sleeps: list[float] = []
    policy = RetryPolicy(base_delay=0.1, jitter=False)
    assert policy.min_rate_limit_delay == 1.0
    sender(retry=policy, sleeps=sleeps).send("GET", "/things")
    # after the 429: at least 1 s although backoff says 0.1; after the 503: backoff (0.2)
    assert sleeps == [1.0, pytest.approx(0.2)]


def test_no_wait_retry_does_not_wait_after_a_429(api: respx.MockRouter) -> None:
    api.get("/things").mock(side_effect=[httpx.Response(429), httpx.Response(200)])
    sleeps: list[float] = []
    sender(sleeps=sleeps).send("GET", "/things")
    assert sleeps == []


def test_a_refused_connection_names_the_full_url(api: respx.MockRouter) -> None:
    api.get("/things").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as caught:
        sender().send("GET", "/things", params={"secret_looking": "x"})
    assert caught.value.attempts == 5
    assert caught.value.message == (
        f"no usable answer to GET {BASE}/things (ConnectError) (gave up after 5 attempts)"
    )
    assert "secret_looking" not in str(caught.value)


def test_a_web_page_instead_of_json_is_not_the_api_and_not_retried(
    api: respx.MockRouter,
) -> None:
    route = api.get("/things").mock(
        return_value=httpx.Response(200, html="<html><body>Sign in</body></html>")
    )
    with pytest.raises(TransportError) as caught:
        sender(not_api_fix="check example.base_url").get_json("/things")
    assert route.call_count == 1
    assert str(caught.value) == (
        "example GET /things → 200: the answer is a web page, not the API — check example.base_url"
    )


def test_a_post_without_an_answer_is_not_resent_without_a_settle(
    api: respx.MockRouter,
) -> None:
    route = api.post("/things").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransportError) as caught:
        sender().send("POST", "/things", json={}, retry_transport_errors=False)
    assert route.call_count == 1
    assert caught.value.attempts == 1


def test_a_settle_that_finds_the_write_ends_the_loop(api: respx.MockRouter) -> None:
    route = api.post("/things").mock(side_effect=httpx.ReadTimeout("slow"))
    asked: list[ApiError] = []

    def settle(error: ApiError) -> str | None:
        asked.append(error)
        return "thing-7" if len(asked) == 2 else None

    reply = sender().request(
        "POST", "/things", json={}, retry_transport_errors=False, settle=settle
    )
    assert reply.settled == "thing-7"
    assert reply.attempts == 2
    assert route.call_count == 2


def test_waits_stop_when_the_logical_request_would_run_out_of_time(
    api: respx.MockRouter,
) -> None:
    clock = FakeClock()
    route = api.get("/things").mock(return_value=httpx.Response(503))
    policy = RetryPolicy(base_delay=4.0, jitter=False, max_elapsed=10.0)
    with pytest.raises(ServerError) as caught:
        sender(retry=policy, clock=clock, sleep=clock.sleep).send("GET", "/things")
    # waits 4 then 8: the second would pass the 10 s budget, so it gives up after 2
    assert route.call_count == 2
    assert clock.sleeps == [4.0]
    assert caught.value.attempts == 2


# ---------------------------------------------------------------------------------------------
# The run's deadline, stopping, and a server that drips its answer
# ---------------------------------------------------------------------------------------------


def test_a_backoff_never_sleeps_past_the_runs_deadline(api: respx.MockRouter) -> None:
    clock = FakeClock()
    api.get("/things").mock(return_value=httpx.Response(503))
    deadline = Deadline.after(5.0, clock=clock)
    policy = RetryPolicy(base_delay=2.0, jitter=False)
    client = sender(retry=policy, clock=clock, sleep=clock.sleep, deadline=deadline)
    with pytest.raises(TransportError) as caught:
        client.send("GET", "/things?page=2")
    assert clock.sleeps == [2.0]  # the next wait (4 s) would end after the deadline
    assert caught.value.message == (
        f"the run's time limit was reached during example GET {BASE}/things"
    )
    assert caught.value.attempts == 2


def test_an_expired_deadline_sends_nothing(api: respx.MockRouter) -> None:
    clock = FakeClock()
    route = api.get("/things").mock(return_value=httpx.Response(200))
    deadline = Deadline.after(0.0, clock=clock)
    with pytest.raises(TransportError, match="the run's time limit was reached"):
        sender(clock=clock, deadline=deadline).send("GET", "/things")
    assert route.call_count == 0


def test_a_set_stop_event_starts_no_request(api: respx.MockRouter) -> None:
    route = api.get("/things").mock(return_value=httpx.Response(200))
    stop = threading.Event()
    stop.set()
    with pytest.raises(StoppedError, match=f"^example: stopped before GET {BASE}/things finished$"):
        sender(stop=stop).send("GET", "/things")
    assert route.call_count == 0


def test_stopping_during_a_backoff_wakes_it_and_sends_nothing_more(
    api: respx.MockRouter,
) -> None:
    route = api.get("/things").mock(return_value=httpx.Response(503))
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    with pytest.raises(StoppedError):
        sender(retry=RetryPolicy(base_delay=60.0, jitter=False), stop=stop).send("GET", "/things")
    assert time.monotonic() - started < 5.0
    assert route.call_count == 1


class DripStream(httpx.SyncByteStream):
    """A body of ``chunks`` bytes, one every ``interval`` seconds."""

    def __init__(self, chunks: int, interval: float) -> None:
        self.chunks = chunks
        self.interval = interval
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        yield b"["
        for _ in range(self.chunks):
            time.sleep(self.interval)
            self.sent += 1
            yield b"1,"
        yield b"1]"


def test_a_server_that_drips_its_answer_is_abandoned_at_the_attempts_deadline() -> None:
    streams: list[DripStream] = []

    def handle(request: httpx.Request) -> httpx.Response:
        stream = DripStream(chunks=100, interval=0.02)  # 2 s in all, each byte well in time
        streams.append(stream)
        return httpx.Response(200, stream=stream, headers={"Content-Type": "application/json"})

    client = sender(
        transport=httpx.MockTransport(handle),
        retry=RetryPolicy(max_attempts=2, **_no_wait()),
        timeouts=Timeouts(connect=1.0, read=1.0, total=0.3),
    )
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        client.get_json("/things")
    elapsed = time.monotonic() - started
    assert elapsed < 1.5  # two attempts of ~0.3 s, not two of 2 s
    assert len(streams) == 2
    assert all(stream.sent < 50 for stream in streams)
    assert caught.value.message == (
        f"no usable answer to GET {BASE}/things (ReadTimeout) (gave up after 2 attempts)"
    )


def test_a_drip_fed_answer_that_finishes_in_time_is_read_whole() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        stream = DripStream(chunks=3, interval=0.01)
        return httpx.Response(200, stream=stream, headers={"Content-Type": "application/json"})

    payload, _ = sender(transport=httpx.MockTransport(handle)).get_json("/things")
    assert payload == [1, 1, 1, 1]


def test_a_429_with_retry_after_zero_still_waits_one_second(api: respx.MockRouter) -> None:
    api.get("/things").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200)]
    )
    sleeps: list[float] = []
    sender(retry=RetryPolicy(jitter=False), sleeps=sleeps).send("GET", "/things")
    assert sleeps == [1.0]


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-RateLimit-Reset", "4"), ("RateLimit-Reset", "4"), ("X-RateLimit-Reset", "epoch+4")],
)
def test_a_429_without_retry_after_waits_for_the_rate_limit_reset(
    api: respx.MockRouter, header: str, value: str
) -> None:
    if value == "epoch+4":
        value = str(int(time.time()) + 5)  # a Unix time about 4-5 s from now
    api.get("/things").mock(
        side_effect=[httpx.Response(429, headers={header: value}), httpx.Response(200)]
    )
    sleeps: list[float] = []
    sender(retry=RetryPolicy(base_delay=0.1, jitter=False), sleeps=sleeps).send("GET", "/things")
    assert len(sleeps) == 1
    assert 3.0 <= sleeps[0] <= 5.0


def test_a_body_that_starts_with_a_tag_is_a_web_page_whatever_its_content_type(
    api: respx.MockRouter,
) -> None:
    page = b"\n  <!DOCTYPE html><html><body>Sign in</body></html>"
    route = api.get("/things").mock(
        return_value=httpx.Response(200, content=page, headers={"Content-Type": "application/json"})
    )
    with pytest.raises(TransportError) as caught:
        sender(not_api_fix="check example.base_url").get_json("/things")
    assert route.call_count == 1  # not retried as if it were a truncated answer
    assert str(caught.value) == (
        "example GET /things → 200: the answer is a web page, not the API — check example.base_url"
    )
    assert "transient" not in str(caught.value)


def test_a_connection_error_names_the_url_without_credentials() -> None:
    with respx.mock() as router:
        router.get("https://example.com/api/things").mock(side_effect=httpx.ConnectError("refused"))
        client = build_client("https://user:pass@example.com/api")
        with pytest.raises(TransportError) as caught:
            Sender(client, "example", retry=NO_WAIT_RETRY).send("GET", "/things")
    assert "https://example.com/api/things" in str(caught.value)
    assert "pass" not in str(caught.value)
