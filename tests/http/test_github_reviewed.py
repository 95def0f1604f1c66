"""What was reviewed: the hidden checksum line of the plan comment, read back for a merged commit.
GitHub's REST API is faked with respx; nothing here touches the network.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from reconciler.edges.github import (
    MARKER,
    Reviewed,
    build_comment_body,
    find_reviewed_checksum,
    reviewed_marker,
)
from reconciler.edges.http import NO_WAIT_RETRY
from reconciler.errors import AuthError, ReconcilerError, TransportError

API = "https://api.github.com"
REPO = "example/people-sync"
PR = 12
MERGED = "1111111111111111111111111111111111111111"
HEAD = "2222222222222222222222222222222222222222"
CHECKSUM = "hmac-sha256:" + "ab" * 32
TOKEN = "ghs_FAKEtokenFAKEtokenFAKEtoken0123"
PULLS_PATH = f"/repos/{REPO}/commits/{MERGED}/pulls"
COMMENTS_PATH = f"/repos/{REPO}/issues/{PR}/comments"
PLAN = "### Personio → Lattice plan\n\n**Plan: 1 to update, 4 unchanged**\n"


def pull(number: int = PR, *, merged_as: str | None = MERGED) -> dict[str, object]:
    return {
        "number": number,
        "state": "closed" if merged_as else "open",
        "merge_commit_sha": merged_as,
        "merged_at": "2026-12-02T10:00:00Z" if merged_as else None,
        "head": {"sha": HEAD},
    }


def comment(comment_id: int, body: str, *, user_type: str = "Bot") -> dict[str, object]:
    return {
        "id": comment_id,
        "body": body,
        "html_url": f"https://github.com/{REPO}/pull/{PR}#issuecomment-{comment_id}",
        "user": {
            "login": "github-actions[bot]" if user_type == "Bot" else "ada-example",
            "type": user_type,
        },
    }


def reviewed_body(checksum: str = CHECKSUM, commit: str | None = HEAD) -> str:
    return build_comment_body(PLAN, marker=f"{MARKER}\n{reviewed_marker(checksum, commit)}")


def find(commit: str = MERGED) -> Reviewed:
    return find_reviewed_checksum(repo=REPO, commit=commit, token=TOKEN, retry=NO_WAIT_RETRY)


@pytest.fixture
def github() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False, assert_all_mocked=True) as router:
        yield router


def test_the_marker_records_the_checksum_and_the_commit_in_one_hidden_line() -> None:
    body = reviewed_body()

    assert body.splitlines()[:2] == [
        MARKER,
        f"<!-- reconcile-reviewed checksum={CHECKSUM} commit={HEAD} -->",
    ]
    assert reviewed_marker(CHECKSUM) == f"<!-- reconcile-reviewed checksum={CHECKSUM} -->"


@pytest.mark.parametrize(
    ("checksum", "commit"),
    [("sha256:" + "ab" * 32, None), (CHECKSUM, "main --> <img>"), (CHECKSUM + " x", None)],
)
def test_only_a_keyed_checksum_and_a_commit_id_go_into_the_marker(
    checksum: str, commit: str | None
) -> None:
    with pytest.raises(ValueError, match="hexadecimal"):
        reviewed_marker(checksum, commit)


def test_the_checksum_of_the_pull_request_merged_as_the_commit_is_found(
    github: respx.MockRouter,
) -> None:
    pulls = github.get(PULLS_PATH).respond(
        json=[pull(3, merged_as="3" * 40), pull(PR), pull(5, merged_as=None)]
    )
    comments = github.get(COMMENTS_PATH).respond(
        json=[comment(1, "LGTM", user_type="User"), comment(2, reviewed_body())]
    )

    assert find() == Reviewed(CHECKSUM, pr=PR)

    assert dict(pulls.calls.last.request.url.params) == {"per_page": "100"}
    assert pulls.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert comments.call_count == 1


def test_an_open_pull_request_containing_the_commit_is_used_when_none_was_merged(
    github: respx.MockRouter,
) -> None:
    github.get(PULLS_PATH).respond(json=[pull(PR, merged_as=None)])
    github.get(COMMENTS_PATH).respond(json=[comment(2, reviewed_body(commit=None))])

    assert find() == Reviewed(CHECKSUM, pr=PR)


def test_a_commit_in_no_pull_request_has_no_reviewed_checksum(github: respx.MockRouter) -> None:
    github.get(PULLS_PATH).respond(json=[])

    assert find() == Reviewed(None, f"no pull request of {REPO} contains commit {MERGED}")


def test_a_pull_request_without_a_plan_comment_has_none(github: respx.MockRouter) -> None:
    github.get(PULLS_PATH).respond(json=[pull()])
    github.get(COMMENTS_PATH).respond(json=[comment(1, "Ship it")])

    assert find() == Reviewed(None, f"pull request #{PR} has no plan comment", PR)


def test_a_plan_comment_posted_without_the_checksum_has_none(github: respx.MockRouter) -> None:
    github.get(PULLS_PATH).respond(json=[pull()])
    github.get(COMMENTS_PATH).respond(json=[comment(1, build_comment_body(PLAN))])

    found = find()

    assert found.checksum is None
    assert "records no reviewed checksum" in found.reason


def test_a_marker_typed_by_a_person_does_not_count(github: respx.MockRouter) -> None:
    github.get(PULLS_PATH).respond(json=[pull()])
    github.get(COMMENTS_PATH).respond(json=[comment(1, reviewed_body(), user_type="User")])

    found = find()

    assert found.checksum is None
    assert "was not written by a bot" in found.reason


def test_the_bots_comment_wins_over_a_person_quoting_another_checksum(
    github: respx.MockRouter,
) -> None:
    forged = reviewed_body(checksum="hmac-sha256:" + "cd" * 32)
    github.get(PULLS_PATH).respond(json=[pull()])
    github.get(COMMENTS_PATH).respond(
        json=[comment(1, forged, user_type="User"), comment(2, reviewed_body())]
    )

    assert find().checksum == CHECKSUM


def test_an_upper_case_commit_is_looked_up_in_lower_case(github: respx.MockRouter) -> None:
    lower = "abcdef0" * 5 + "abcde"
    route = github.get(f"/repos/{REPO}/commits/{lower}/pulls").respond(json=[])

    find(lower.upper())

    assert route.call_count == 1


@pytest.mark.parametrize(
    ("repo", "commit", "where"),
    [("not a repo", MERGED, "github"), (REPO, "HEAD~1", "--commit"), (REPO, "", "--commit")],
)
def test_bad_arguments_are_refused_before_any_request(
    github: respx.MockRouter, repo: str, commit: str, where: str
) -> None:
    with pytest.raises(ReconcilerError) as caught:
        find_reviewed_checksum(repo=repo, commit=commit, token=TOKEN)

    assert caught.value.where == where
    assert not github.calls


def test_a_forbidden_answer_says_which_permissions_the_job_needs(
    github: respx.MockRouter,
) -> None:
    github.get(PULLS_PATH).respond(403, json={"message": f"Resource not accessible {TOKEN}"})

    with pytest.raises(AuthError) as caught:
        find()

    assert "pull-requests: read" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_an_answer_that_is_not_a_list_of_pull_requests_is_reported(
    github: respx.MockRouter,
) -> None:
    github.get(PULLS_PATH).respond(json={"message": "hello"})

    with pytest.raises(TransportError, match="a list of pull requests"):
        find()


def test_a_pull_request_without_a_number_is_reported(github: respx.MockRouter) -> None:
    github.get(PULLS_PATH).respond(json=[{"number": "12"}])

    with pytest.raises(TransportError, match="pull requests with a number"):
        find()
