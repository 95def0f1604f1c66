"""The pull-request plan comment: built within GitHub's limit, found by marker, updated in place.
GitHub's REST API is faked with respx; nothing here touches the network.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import respx

from reconciler.edges.github import (
    MARKER,
    MAX_COMMENT_CHARS,
    CommentResult,
    build_comment_body,
    upsert_pr_comment,
)
from reconciler.edges.http import NO_WAIT_RETRY
from reconciler.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    RateLimitedError,
    ReconcilerError,
    ServerError,
    TransportError,
)

API = "https://api.github.com"
REPO = "example/people-sync"
PR = 7
# A made-up token, distinctive enough to hunt for in every error and log line.
TOKEN = "ghs_FAKEtokenFAKEtokenFAKEtoken0123"
LIST_PATH = f"/repos/{REPO}/issues/{PR}/comments"
PLAN = "## Plan\n\nCreates=1, Updates=0, Deactivates=0\n"
BODY = build_comment_body(PLAN)


def comment(comment_id: int, body: str, *, user_type: str = "Bot") -> dict[str, object]:
    login = "github-actions[bot]" if user_type == "Bot" else "ada-example"
    return {
        "id": comment_id,
        "body": body,
        "html_url": f"https://github.com/{REPO}/pull/{PR}#issuecomment-{comment_id}",
        "user": {"login": login, "type": user_type},
    }


def url_of(comment_id: int) -> str:
    return f"https://github.com/{REPO}/pull/{PR}#issuecomment-{comment_id}"


def upsert(body: str = BODY) -> CommentResult:
    return upsert_pr_comment(repo=REPO, pr=PR, body=body, token=TOKEN, retry=NO_WAIT_RETRY)


@pytest.fixture
def github() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False, assert_all_mocked=True) as router:
        yield router


# ----------------------------------------------------------------------------- body


def test_a_short_plan_is_posted_whole_under_the_marker() -> None:
    assert build_comment_body(PLAN) == MARKER + "\n" + PLAN


def test_a_long_plan_is_cut_at_a_line_boundary_with_a_truncation_line() -> None:
    markdown = "".join(f"line {n:02d}\n" for n in range(20))  # 20 lines of 8 characters
    body = build_comment_body(markdown, marker="<!-- m -->", max_chars=150)
    # 150 - 11 (the marker line) - 83 (the notice sized for 160, and its two newlines) = 56:
    # seven whole lines fit, and 160 - 56 characters are left out.
    assert body == (
        "<!-- m -->\n"
        "line 00\nline 01\nline 02\nline 03\nline 04\nline 05\nline 06\n"
        "\n… truncated: 104 characters not shown — see the job summary and the plan artifact\n"
    )
    assert len(body) == 150


def test_a_plan_cut_inside_a_code_block_closes_the_block_before_the_notice() -> None:
    markdown = "<details>\n\n```\n" + "".join(f"row {n:03d}\n" for n in range(100)) + "```\n"
    body = build_comment_body(markdown, marker="<!-- m -->", max_chars=200)
    # Ten rows would fit without the closing lines; with them, nine do.
    assert body == (
        "<!-- m -->\n<details>\n\n```\n"
        + "".join(f"row {n:03d}\n" for n in range(9))
        + "```\n\n</details>\n"
        "\n… truncated: 732 characters not shown — see the job summary and the plan artifact\n"
    )


def test_a_tilde_fence_is_closed_with_tildes_not_backticks() -> None:
    markdown = "~~~\n```\n" + "".join(f"row {n:03d}\n" for n in range(100)) + "~~~\n"
    body = build_comment_body(markdown, marker="<!-- m -->", max_chars=200)
    # 200 - 11 - 83 = 106 = 8 (fences) + 11 rows of 8 + 4 (closing) + 6 to spare.
    assert body == (
        "<!-- m -->\n~~~\n```\n" + "".join(f"row {n:03d}\n" for n in range(11)) + "~~~\n"
        "\n… truncated: 716 characters not shown — see the job summary and the plan artifact\n"
    )


def test_a_plan_over_githubs_limit_is_capped_at_the_limit() -> None:
    markdown = "| ada@example.com | update | title |\n" * 5000  # about 185,000 characters
    body = build_comment_body(markdown)
    assert len(body) <= MAX_COMMENT_CHARS
    assert len(body) > MAX_COMMENT_CHARS - 200  # as much of the plan as fits
    assert body.startswith(MARKER + "\n| ada@example.com | update | title |\n")
    shown = body.count("| ada@example.com | update | title |\n")
    hidden = len(markdown) - shown * len("| ada@example.com | update | title |\n")
    assert body.endswith(
        f"\n… truncated: {hidden} characters not shown — "
        "see the job summary and the plan artifact\n"
    )


def test_a_limit_too_small_for_the_notice_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="max_chars=40"):
        build_comment_body("x\n" * 100, max_chars=40)


# ----------------------------------------------------------------------------- upsert


def test_creates_the_comment_when_no_comment_carries_the_marker(github: respx.MockRouter) -> None:
    listing = github.get(LIST_PATH).respond(
        json=[comment(1, "Looks good to me", user_type="User"), comment(2, "CI passed")]
    )
    create = github.post(LIST_PATH).respond(201, json=comment(99, BODY))

    assert upsert() == CommentResult("created", 99, url_of(99))

    assert listing.call_count == 1
    sent = create.calls.last.request
    assert json.loads(sent.content) == {"body": BODY}
    assert dict(listing.calls.last.request.url.params) == {"per_page": "100", "page": "1"}
    assert {
        key: sent.headers[key] for key in ("Authorization", "Accept", "X-GitHub-Api-Version")
    } == {
        "Authorization": f"Bearer {TOKEN}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }


def test_updates_in_place_the_marked_comment_found_on_the_second_page(
    github: respx.MockRouter,
) -> None:
    # GitHub's next links use the repository id, not its name: follow them as given.
    next_url = f"{API}/repositories/123/issues/{PR}/comments?per_page=100&page=2"
    first = github.get(LIST_PATH).respond(
        json=[comment(n, f"comment {n}", user_type="User") for n in range(1, 101)],
        headers={"Link": f'<{next_url}>; rel="next", <{next_url}>; rel="last"'},
    )
    second = github.get(f"/repositories/123/issues/{PR}/comments", params={"page": "2"}).respond(
        json=[comment(101, "ok"), comment(102, MARKER + "\nan older plan\n")]
    )
    update = github.patch(f"/repos/{REPO}/issues/comments/102").respond(json=comment(102, BODY))
    create = github.post(LIST_PATH)

    assert upsert() == CommentResult("updated", 102, url_of(102))

    assert (first.call_count, second.call_count, update.call_count) == (1, 1, 1)
    assert json.loads(update.calls.last.request.content) == {"body": BODY}
    assert not create.called


def test_prefers_the_bots_comment_to_a_person_quoting_the_marker(github: respx.MockRouter) -> None:
    github.get(LIST_PATH).respond(
        json=[
            comment(5, f"Why does it say {MARKER}?", user_type="User"),
            comment(6, MARKER + "\nan older plan\n"),
        ]
    )
    bot_update = github.patch(f"/repos/{REPO}/issues/comments/6").respond(json=comment(6, BODY))

    assert upsert() == CommentResult("updated", 6, url_of(6))
    assert bot_update.call_count == 1


def test_a_marked_comment_by_a_person_is_updated_when_no_bot_wrote_one(
    github: respx.MockRouter,
) -> None:
    github.get(LIST_PATH).respond(json=[comment(5, MARKER + "\nold\n", user_type="User")])
    update = github.patch(f"/repos/{REPO}/issues/comments/5").respond(json=comment(5, BODY))

    assert upsert() == CommentResult("updated", 5, url_of(5))
    assert update.call_count == 1


def test_an_identical_comment_is_left_alone(github: respx.MockRouter) -> None:
    # GitHub may hand the body back with CRLF line endings.
    github.get(LIST_PATH).respond(json=[comment(8, BODY.replace("\n", "\r\n"))])
    writes = github.route(method__in=["POST", "PATCH"])

    assert upsert() == CommentResult("unchanged", 8, url_of(8))
    assert not writes.called


def test_a_next_link_to_another_host_is_not_followed_so_the_token_stays_home(
    github: respx.MockRouter,
) -> None:
    github.get(LIST_PATH).respond(
        json=[comment(1, "hello", user_type="User")],
        headers={"Link": '<https://elsewhere.example.com/steal?page=2>; rel="next"'},
    )

    with pytest.raises(TransportError) as caught:
        upsert()

    assert str(caught.value) == (
        f"github GET {LIST_PATH}: the next-page link points outside the API base URL; "
        "not following it — check --api-url (GITHUB_API_URL) and any proxy in between"
    )


def test_a_next_link_pointing_back_at_a_seen_page_ends_the_listing(
    github: respx.MockRouter,
) -> None:
    loop = f"{API}{LIST_PATH}?per_page=100&page=1"
    listing = github.get(LIST_PATH).respond(
        json=[comment(1, "hello", user_type="User")], headers={"Link": f'<{loop}>; rel="next"'}
    )
    github.post(LIST_PATH).respond(201, json=comment(3, BODY))

    assert upsert() == CommentResult("created", 3, url_of(3))
    assert listing.call_count == 2


def test_works_against_github_enterprise_under_an_api_prefix() -> None:
    ghe = "https://github.example.com/api/v3"
    with respx.mock(base_url=ghe, assert_all_mocked=True) as router:
        router.get(LIST_PATH).respond(
            json=[],
            headers={"Link": f'<{ghe}/repositories/9/issues/{PR}/comments?page=2>; rel="next"'},
        )
        router.get(f"/repositories/9/issues/{PR}/comments").respond(json=[])
        router.post(LIST_PATH).respond(201, json=comment(4, BODY))

        result = upsert_pr_comment(repo=REPO, pr=PR, body=BODY, token=TOKEN, api_url=ghe)

    assert result == CommentResult("created", 4, url_of(4))


def test_a_body_without_the_marker_is_refused_before_any_request() -> None:
    with pytest.raises(ValueError, match="build_comment_body"):
        upsert_pr_comment(repo=REPO, pr=PR, body=PLAN, token=TOKEN)


@pytest.mark.parametrize(
    ("repo", "pr", "token", "expected"),
    [
        ("people-sync", PR, TOKEN, "github: not a repository name: 'people-sync' — pass --repo"),
        (REPO, 0, TOKEN, "github: not a pull request number: 0 — pass --pr"),
        (REPO, PR, "", "github: no GitHub token — set GITHUB_TOKEN"),
    ],
)
def test_bad_arguments_are_explained_before_any_request(
    repo: str, pr: int, token: str, expected: str
) -> None:
    with pytest.raises(ReconcilerError) as caught:
        upsert_pr_comment(repo=repo, pr=pr, body=BODY, token=token)
    assert str(caught.value).startswith(expected)


# ----------------------------------------------------------------------------- errors


def test_a_forbidden_answer_names_the_missing_permission(github: respx.MockRouter) -> None:
    github.get(LIST_PATH).respond(json=[])
    github.post(LIST_PATH).respond(403, json={"message": "Resource not accessible by integration"})

    with pytest.raises(AuthError) as caught:
        upsert()

    assert str(caught.value) == (
        f"github POST {LIST_PATH} → 403: Resource not accessible by integration — the token may "
        "not write pull-request comments: give the job 'permissions: pull-requests: write' "
        "(pull requests from forks only get a read-only token)"
    )


def test_githubs_secondary_rate_limit_is_a_rate_limit_not_a_permission_problem(
    github: respx.MockRouter,
) -> None:
    github.get(LIST_PATH).respond(
        403, json={"message": "You have exceeded a secondary rate limit. Please wait."}
    )

    with pytest.raises(RateLimitedError) as caught:
        upsert()

    assert caught.value.status == 403
    assert caught.value.fix == "wait a few minutes and re-run the job"


def test_an_unknown_pull_request_says_what_to_check(github: respx.MockRouter) -> None:
    github.get(LIST_PATH).respond(404, json={"message": "Not Found"})

    with pytest.raises(NotFoundError) as caught:
        upsert()

    assert str(caught.value) == (
        f"github GET {LIST_PATH} → 404: Not Found — check --repo and --pr; a token without "
        "access to the repository also gets 404"
    )


def test_a_lost_answer_to_the_create_is_not_resent(github: respx.MockRouter) -> None:
    github.get(LIST_PATH).respond(json=[])
    create = github.post(LIST_PATH).mock(side_effect=httpx.ReadTimeout("timed out"))

    with pytest.raises(TransportError):
        upsert()

    assert create.call_count == 1


def test_server_errors_are_retried_then_reported(github: respx.MockRouter) -> None:
    listing = github.get(LIST_PATH).respond(502, text="<html>Bad gateway</html>")

    with pytest.raises(ServerError) as caught:
        upsert()

    assert listing.call_count == NO_WAIT_RETRY.max_attempts
    assert str(caught.value) == (
        f"github GET {LIST_PATH} → 502: HTTP 502 (gave up after {NO_WAIT_RETRY.max_attempts} "
        "attempts)"
    )


def test_an_answer_that_is_not_a_comment_list_is_reported(github: respx.MockRouter) -> None:
    github.get(LIST_PATH).respond(json={"message": "surprise"})

    with pytest.raises(TransportError, match="expected a list of comments"):
        upsert()


ERROR_ANSWERS = [
    httpx.Response(401, json={"message": f"Bad credentials: {TOKEN}"}),
    httpx.Response(403, json={"message": f"token {TOKEN} lacks pull-requests: write"}),
    httpx.Response(404, json={"message": "Not Found"}),
    httpx.Response(422, json={"message": f"Validation Failed for {TOKEN}"}),
    httpx.Response(500, json={"message": TOKEN}),
    httpx.Response(200, text=f"not json {TOKEN}"),
]


@pytest.mark.parametrize(
    "answer",
    [*ERROR_ANSWERS, httpx.ConnectError(f"connection to Bearer {TOKEN} refused")],
    ids=["401", "403", "404", "422", "500", "not-json", "connect-error"],
)
def test_the_token_appears_in_no_error_and_no_log_line(
    github: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
    answer: httpx.Response | httpx.HTTPError,
) -> None:
    # The fake server even echoes the token back, the worst case.
    if isinstance(answer, httpx.Response):
        github.get(LIST_PATH).mock(return_value=answer)
    else:
        github.get(LIST_PATH).mock(side_effect=answer)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ApiError) as caught:
        upsert()

    error = caught.value
    texts = [str(error), repr(error), error.message, error.detail or "", error.fix or ""]
    texts += [str(arg) for arg in error.args]
    assert [t for t in texts if TOKEN in t] == []
    assert TOKEN not in caplog.text
