"""``doctor`` against scripted answers (respx): a Lattice base URL without ``/scim/v2`` is
named as the problem, instead of the SCIM key, when the answer says there is no SCIM there.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

from reconciler.app import Check, run_doctor
from reconciler.config import parse_config
from reconciler.edges.connections import Connections
from reconciler.edges.http import NO_WAIT_RETRY

CONFIG = parse_config(
    """\
version: 1
personio:
  client_id: env:PERSONIO_CLIENT_ID
  client_secret: env:PERSONIO_CLIENT_SECRET
  app_id: ACME_LATTICE_SYNC
lattice:
  token: env:LATTICE_SCIM_TOKEN
""",
    "t.yaml",
)
KEY_TITLE = "the Lattice SCIM key works (super admin, SCIM enabled)"
BASE_URL_TITLE = "lattice.base_url is the SCIM service"


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        # Personio refuses: only the Lattice half of the checklist is looked at here.
        mock.post("https://api.personio.de/v1/auth").mock(
            return_value=httpx.Response(
                401, json={"success": False, "error": {"code": 401, "message": "no"}}
            )
        )
        yield mock


def lattice_checks(base_url: str) -> list[Check]:
    conn = Connections(
        personio_base_url="https://api.personio.de/v1",
        personio_client_id="client-id",
        personio_client_secret="client-secret",
        lattice_base_url=base_url,
        lattice_token="scim-key",
        retry=NO_WAIT_RETRY,
        personio_rate=0,
        lattice_rate=0,
    )
    return [check for check in run_doctor(CONFIG, conn) if "ersonio" not in check.title]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, json={"message": "Not Found"}),
        httpx.Response(
            200, text="<html><body>Lattice</body></html>", headers={"Content-Type": "text/html"}
        ),
        httpx.Response(200, json={"ok": True}),
    ],
    ids=["404", "web page", "json that is not scim"],
)
def test_a_base_url_without_scim_v2_is_named_instead_of_the_key(
    router: respx.MockRouter, answer: httpx.Response
) -> None:
    route = router.get("https://api.latticehq.com/Users").mock(return_value=answer)

    checks = lattice_checks("https://api.latticehq.com")

    assert route.called
    assert [(check.title, check.ok) for check in checks] == [(BASE_URL_TITLE, False)]
    (detail,) = checks[0].details
    assert detail.startswith(
        "lattice.base_url should end in /scim/v2 (e.g. https://api.latticehq.com/scim/v2) — "
        "https://api.latticehq.com did not answer as SCIM ("
    )
    assert "scim-key" not in detail


def test_a_refused_key_is_still_the_keys_problem_without_scim_v2(
    router: respx.MockRouter,
) -> None:
    router.get("https://api.latticehq.com/Users").mock(
        return_value=httpx.Response(401, json={"detail": "Unauthorized"})
    )

    checks = lattice_checks("https://api.latticehq.com")

    assert [(check.title, check.ok) for check in checks] == [(KEY_TITLE, False)]


def test_a_404_under_scim_v2_is_not_blamed_on_the_base_url(router: respx.MockRouter) -> None:
    router.get("https://api.latticehq.com/scim/v2/Users").mock(
        return_value=httpx.Response(404, json={"detail": "Not Found"})
    )

    checks = lattice_checks("https://api.latticehq.com/scim/v2")

    assert [(check.title, check.ok) for check in checks] == [(KEY_TITLE, False)]
