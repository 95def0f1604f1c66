"""Posts a rendered plan to its pull request as one comment, found by a marker and updated in place.
Imports httpx, the standard library, reconciler.edges.http and reconciler.errors; never prints.

The calls are GitHub's issue-comment endpoints (a pull request is an issue): list
``GET /repos/{repo}/issues/{pr}/comments`` (every page, via the ``Link`` header), then either
``PATCH /repos/{repo}/issues/comments/{id}`` or ``POST /repos/{repo}/issues/{pr}/comments``.

What was reviewed: a comment posted with ``reconcile comment --plan-json`` also carries
``<!-- reconcile-reviewed checksum=... commit=... -->`` (``reviewed_marker``);
``find_reviewed_checksum`` reads it back for a merged commit, through
``GET /repos/{repo}/commits/{sha}/pulls`` (the pull request merged as, or containing, that
commit; docs/decisions.md, 2026-12-02) and that pull request's bot-written plan comment.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import httpx

from reconciler.core.model import COMMIT_ID
from reconciler.edges.http import DEFAULT_RETRY, RetryPolicy, Sender, Sleep, build_client, json_body
from reconciler.errors import (
    ApiError,
    AuthError,
    RateLimitedError,
    ReconcilerError,
    TransportError,
)

logger = logging.getLogger("reconciler.edges.github")

#: Hidden in the rendered comment; how a later run finds the comment to update.
MARKER = "<!-- personio-lattice-reconciler:plan -->"

#: GitHub refuses an issue comment whose body is longer than this many characters.
MAX_COMMENT_CHARS = 65536

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
SYSTEM = "github"

TRUNCATION_NOTICE = (
    "… truncated: {count} characters not shown — see the job summary and the plan artifact"
)

_REPO_PATTERN = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_FENCE_PATTERN = re.compile(r"^\s*(```|~~~)")
_DETAIL_CHARS = 300

CommentAction = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class CommentResult:
    """What ``upsert_pr_comment`` did, to which comment, and where to see it."""

    action: CommentAction
    comment_id: int
    url: str


def build_comment_body(
    markdown: str, *, marker: str = MARKER, max_chars: int = MAX_COMMENT_CHARS
) -> str:
    """The comment body: ``marker`` on the first line, then ``markdown``, at most ``max_chars``.

    A plan too long for one comment is cut at a line boundary; an open code fence or
    ``<details>`` block is closed so the notice renders as text, and a last line says how many
    characters of the plan were left out and where to read the whole plan.
    """
    head = f"{marker}\n"
    body = head + markdown
    if len(body) <= max_chars:
        return body
    # The count can only shrink as we keep more, so a notice sized for the whole text always fits.
    widest_notice = "\n" + TRUNCATION_NOTICE.format(count=len(markdown)) + "\n"
    budget = max_chars - len(head) - len(widest_notice)
    if budget < 0:
        raise ValueError(f"max_chars={max_chars} cannot hold the marker and the truncation notice")
    search_end = budget
    while True:
        cut = _line_boundary_at_most(markdown, search_end)
        kept = markdown[:cut]
        closing = _closing_tags(kept)
        if len(kept) + len(closing) <= budget or cut == 0:
            break
        # The closing tags do not fit after this line: give up one more line and try again.
        search_end = cut - 1
    notice = TRUNCATION_NOTICE.format(count=len(markdown) - cut)
    return f"{head}{kept}{closing}\n{notice}\n"


def _line_boundary_at_most(text: str, limit: int) -> int:
    """The largest index ``<= limit`` that starts a line of ``text`` (0 when there is none)."""
    if limit <= 0:
        return 0
    newline = text.rfind("\n", 0, limit)
    return newline + 1 if newline >= 0 else 0


def _closing_tags(kept: str) -> str:
    """What closes the code fence and ``<details>`` blocks left open at the end of ``kept``."""
    open_fence: str | None = None
    for line in kept.splitlines():
        match = _FENCE_PATTERN.match(line)
        if match is None:
            continue
        if open_fence is None:
            open_fence = match.group(1)
        elif match.group(1) == open_fence:
            # Only the same fence closes a block: ``` inside a ~~~ block is content.
            open_fence = None
    closing = f"{open_fence}\n" if open_fence is not None else ""
    unclosed_details = kept.count("<details") - kept.count("</details>")
    closing += "\n</details>\n" * max(0, unclosed_details)
    return closing


def upsert_pr_comment(
    *,
    repo: str,
    pr: int,
    body: str,
    token: str,
    api_url: str = DEFAULT_API_URL,
    transport: httpx.BaseTransport | None = None,
    marker: str = MARKER,
    retry: RetryPolicy | None = None,
    sleep: Sleep = time.sleep,
) -> CommentResult:
    """Create the plan comment on pull request ``pr`` of ``repo``, or update the one already there.

    The existing comment is the first whose body contains ``marker``, preferring one written by a
    bot (the workflow's ``github-actions[bot]``) over a person who quoted it. An identical body is
    left alone. Raises ``ApiError`` subclasses with system ``"github"``; the token never appears
    in any error or log line.
    """
    if not _REPO_PATTERN.fullmatch(repo):
        raise ReconcilerError(
            f"not a repository name: {repo!r}", where=SYSTEM, fix="pass --repo OWNER/NAME"
        )
    if pr <= 0:
        raise ReconcilerError(
            f"not a pull request number: {pr}", where=SYSTEM, fix="pass --pr with the PR number"
        )
    if marker not in body:
        raise ValueError("the body lacks the marker; build it with build_comment_body()")

    with _sender(api_url, token, transport, retry, sleep) as sender:
        try:
            return _upsert(sender, repo=repo, pr=pr, body=body, marker=marker)
        except ApiError as error:
            explained = _explained(error)
            if explained is error:
                raise
            raise explained from error


@contextmanager
def _sender(
    api_url: str,
    token: str,
    transport: httpx.BaseTransport | None,
    retry: RetryPolicy | None,
    sleep: Sleep,
) -> Iterator[Sender]:
    """A sender to the GitHub API with the token, the API version and GitHub's error details."""
    if not token:
        raise ReconcilerError(
            "no GitHub token",
            where=SYSTEM,
            fix="set GITHUB_TOKEN (in Actions: env GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }})",
        )
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
    }
    with build_client(api_url, headers=headers, transport=transport) as client:
        yield Sender(
            client=client,
            system=SYSTEM,
            retry=retry if retry is not None else DEFAULT_RETRY,
            sleep=sleep,
            detail_of=lambda response: _github_detail(response, token),
        )


def _upsert(sender: Sender, *, repo: str, pr: int, body: str, marker: str) -> CommentResult:
    existing = _find_marked_comment(sender, repo=repo, pr=pr, marker=marker)
    if existing is None:
        path = f"/repos/{repo}/issues/{pr}/comments"
        # A POST whose answer was lost may have created the comment: never re-send it blindly.
        response, _ = sender.send("POST", path, json={"body": body}, retry_transport_errors=False)
        created = _comment_of(response, path=path, method="POST")
        logger.info("created plan comment %d on %s#%d", created.comment_id, repo, pr)
        return CommentResult("created", created.comment_id, created.url)
    if _same_text(existing.body, body):
        logger.info("plan comment %d on %s#%d is unchanged", existing.comment_id, repo, pr)
        return CommentResult("unchanged", existing.comment_id, existing.url)
    path = f"/repos/{repo}/issues/comments/{existing.comment_id}"
    response, _ = sender.send("PATCH", path, json={"body": body})
    updated = _comment_of(response, path=path, method="PATCH")
    logger.info("updated plan comment %d on %s#%d", updated.comment_id, repo, pr)
    return CommentResult("updated", updated.comment_id, updated.url)


@dataclass(frozen=True, slots=True)
class _Comment:
    comment_id: int
    url: str
    body: str
    by_bot: bool


def _find_marked_comment(sender: Sender, *, repo: str, pr: int, marker: str) -> _Comment | None:
    """The comment to update: the first marked one by a bot, else the first marked one at all."""
    first_marked: _Comment | None = None
    for comment in _fetch_comments(sender, repo=repo, pr=pr):
        if marker not in comment.body:
            continue
        if comment.by_bot:
            return comment
        if first_marked is None:
            first_marked = comment
    return first_marked


def _fetch_comments(sender: Sender, *, repo: str, pr: int) -> Iterator[_Comment]:
    """Every comment on the pull request, page by page, following ``Link: rel="next"``."""
    path = f"/repos/{repo}/issues/{pr}/comments"
    params: Mapping[str, str | int] = {"per_page": 100, "page": 1}
    seen: set[str] = set()
    pages = 0
    while True:
        response, _ = sender.send("GET", path, params=params)
        pages += 1
        payload = json_body(response, system=SYSTEM, method="GET", path=path)
        if not isinstance(payload, list):
            raise _unexpected("GET", path, response.status_code, "a list of comments")
        for item in payload:
            yield _parse_comment(item, method="GET", path=path, status=response.status_code)
        next_url = response.links.get("next", {}).get("url")
        if not next_url or next_url in seen:
            logger.debug("read %d page(s) of comments on %s#%d", pages, repo, pr)
            return
        seen.add(next_url)
        path, params = _relative_to_base(sender.client.base_url, next_url, current=path)


def _relative_to_base(
    base: httpx.URL, next_url: str, *, current: str
) -> tuple[str, Mapping[str, str | int]]:
    """The path and query of a ``Link`` URL, refused unless it lies under the API base URL.

    The client sends the token with every request, so following a link to another host
    would hand the token to that host.
    """
    url = base.join(next_url)
    base_path = base.path if base.path.endswith("/") else base.path + "/"
    same_origin = (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)
    if not same_origin or not url.path.startswith(base_path):
        raise TransportError(
            "the next-page link points outside the API base URL; not following it",
            system=SYSTEM,
            method="GET",
            path=current,
            fix="check --api-url (GITHUB_API_URL) and any proxy in between",
        )
    params = {key: value for key, value in url.params.multi_items()}
    return "/" + url.path[len(base_path) :], params


def _parse_comment(item: object, *, method: str, path: str, status: int) -> _Comment:
    if not isinstance(item, dict):
        raise _unexpected(method, path, status, "a comment object")
    comment_id = item.get("id")
    if not isinstance(comment_id, int) or isinstance(comment_id, bool):
        raise _unexpected(method, path, status, "a comment with an integer id")
    body = item.get("body")
    url = item.get("html_url")
    user = item.get("user")
    return _Comment(
        comment_id=comment_id,
        url=url if isinstance(url, str) else "",
        body=body if isinstance(body, str) else "",
        by_bot=isinstance(user, dict) and user.get("type") == "Bot",
    )


def _comment_of(response: httpx.Response, *, path: str, method: str) -> _Comment:
    payload = json_body(response, system=SYSTEM, method=method, path=path)
    return _parse_comment(payload, method=method, path=path, status=response.status_code)


def _unexpected(method: str, path: str, status: int, expected: str) -> TransportError:
    return TransportError(
        f"unexpected answer: expected {expected}",
        system=SYSTEM,
        method=method,
        path=path,
        status=status,
        fix="check that --api-url (GITHUB_API_URL) is the GitHub REST API",
    )


def _same_text(stored: str, wanted: str) -> bool:
    """Equal up to line endings and trailing whitespace, which GitHub may normalise on storage."""

    def normalised(text: str) -> str:
        return text.replace("\r\n", "\n").rstrip()

    return normalised(stored) == normalised(wanted)


def _github_detail(response: httpx.Response, token: str) -> str | None:
    """GitHub's own error ``message``, shortened, with the token scrubbed in case it was echoed."""
    try:
        payload = response.json()
    except (ValueError, RecursionError):
        return None
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, str) or not message.strip():
        return None
    return message.replace(token, "***")[:_DETAIL_CHARS]


def _explained(error: ApiError) -> ApiError:
    """Add the fix a GitHub user needs to the generic HTTP error."""
    detail = (error.detail or "").lower()
    if error.status == 403 and "rate limit" in detail:
        # GitHub answers its secondary rate limit with 403, not 429.
        return RateLimitedError(
            f"rate limited ({error.message})",
            system=error.system,
            method=error.method,
            path=error.path,
            status=error.status,
            detail=error.detail,
            fix="wait a few minutes and re-run the job",
        )
    if error.status == 403:
        error.fix = (
            "the token may not write pull-request comments: give the job "
            "'permissions: pull-requests: write' (pull requests from forks only get a "
            "read-only token)"
        )
    elif error.status == 401:
        error.fix = "the token was refused: check GITHUB_TOKEN"
    elif error.status == 404:
        error.fix = "check --repo and --pr; a token without access to the repository also gets 404"
    elif isinstance(error, AuthError):
        error.fix = "check GITHUB_TOKEN and the job's permissions"
    return error


# ------------------------------------------------------------------------------------ reviewed

#: The keyed checksum a reviewer saw, and the commit the plan was computed for.
_CHECKSUM = re.compile(r"hmac-sha256:[0-9a-f]{64}")
_REVIEWED = re.compile(
    rf"<!-- reconcile-reviewed checksum=({_CHECKSUM.pattern})"
    rf"(?: commit=({COMMIT_ID.pattern}))? -->"
)


def reviewed_marker(checksum: str, commit: str | None = None) -> str:
    """The hidden line recording what a plan comment showed: its checksum and, when known,
    the commit it was computed for. ``ValueError`` for anything else (it goes into HTML)."""
    if not _CHECKSUM.fullmatch(checksum):
        raise ValueError("a reviewed checksum is hmac-sha256: and 64 hexadecimal digits")
    if commit is not None and not COMMIT_ID.fullmatch(commit):
        raise ValueError("a commit is 7 to 64 lower-case hexadecimal digits")
    tail = f" commit={commit}" if commit is not None else ""
    return f"<!-- reconcile-reviewed checksum={checksum}{tail} -->"


@dataclass(frozen=True, slots=True)
class Reviewed:
    """What ``find_reviewed_checksum`` found: the checksum, or why there is none."""

    checksum: str | None
    reason: str = ""
    pr: int | None = None


def find_reviewed_checksum(
    *,
    repo: str,
    commit: str,
    token: str,
    api_url: str = DEFAULT_API_URL,
    transport: httpx.BaseTransport | None = None,
    marker: str = MARKER,
    retry: RetryPolicy | None = None,
    sleep: Sleep = time.sleep,
) -> Reviewed:
    """The checksum recorded in the plan comment of the pull request merged as (or containing)
    ``commit``. Only a comment written by a bot counts (a person can type any marker); the
    marked comment is the one ``upsert_pr_comment`` keeps up to date. API failures raise
    ``ApiError``."""
    if not _REPO_PATTERN.fullmatch(repo):
        raise ReconcilerError(
            f"not a repository name: {repo!r}", where=SYSTEM, fix="pass --repo OWNER/NAME"
        )
    sha = commit.strip().lower()
    if not COMMIT_ID.fullmatch(sha):
        raise ReconcilerError(
            "not a commit id (7 to 64 hexadecimal digits)",
            where="--commit",
            fix="pass the merged commit, e.g. --commit ${{ github.sha }}",
        )
    with _sender(api_url, token, transport, retry, sleep) as sender:
        try:
            return _find_reviewed(sender, repo=repo, sha=sha, marker=marker)
        except ApiError as error:
            explained = _explained(error)
            if error.status in (403, 404) and explained is error:
                error.fix = (
                    "check --repo and --commit; the job needs 'permissions: contents: read' "
                    "and 'pull-requests: read'"
                )
            raise explained from error


@dataclass(frozen=True, slots=True)
class _Pull:
    number: int
    merge_sha: str | None
    merged: bool


def _find_reviewed(sender: Sender, *, repo: str, sha: str, marker: str) -> Reviewed:
    pulls = _pulls_of_commit(sender, repo=repo, sha=sha)
    if not pulls:
        return Reviewed(None, f"no pull request of {repo} contains commit {sha}")
    # The one merged as this commit, else one merged containing it, else an open one.
    pull = next(
        (p for p in pulls if p.merge_sha == sha),
        next((p for p in pulls if p.merged), pulls[0]),
    )
    found = _find_marked_comment(sender, repo=repo, pr=pull.number, marker=marker)
    if found is None:
        return Reviewed(None, f"pull request #{pull.number} has no plan comment", pull.number)
    if not found.by_bot:
        return Reviewed(
            None,
            f"the plan comment on pull request #{pull.number} was not written by a bot "
            "(the workflow's token), so it does not count",
            pull.number,
        )
    match = _REVIEWED.search(found.body)
    if match is None:
        return Reviewed(
            None,
            f"the plan comment on pull request #{pull.number} records no reviewed checksum "
            "(posted without 'reconcile comment --plan-json')",
            pull.number,
        )
    # The commit in the marker is for people reading the comment; what decides is that the
    # fresh plan at merge has this checksum (apply --checksum), whatever commit it came from.
    checksum = match.group(1)
    logger.info("pull request #%d of %s recorded a reviewed checksum", pull.number, repo)
    return Reviewed(checksum, pr=pull.number)


def _pulls_of_commit(sender: Sender, *, repo: str, sha: str) -> list[_Pull]:
    """``GET /repos/{repo}/commits/{sha}/pulls``: one page of 100 is plenty for one commit."""
    path = f"/repos/{repo}/commits/{sha}/pulls"
    response, _ = sender.send("GET", path, params={"per_page": 100})
    payload = json_body(response, system=SYSTEM, method="GET", path=path)
    if not isinstance(payload, list):
        raise _unexpected("GET", path, response.status_code, "a list of pull requests")
    pulls: list[_Pull] = []
    for item in payload:
        number = item.get("number") if isinstance(item, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
            raise _unexpected("GET", path, response.status_code, "pull requests with a number")
        assert isinstance(item, dict)
        merge_sha = item.get("merge_commit_sha")
        pulls.append(
            _Pull(
                number=number,
                merge_sha=merge_sha.lower() if isinstance(merge_sha, str) else None,
                merged=isinstance(item.get("merged_at"), str),
            )
        )
    return pulls
