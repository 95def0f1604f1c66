"""Our Lattice SCIM clients against scim2-server, a SCIM 2.0 implementation we did not write.
Core + enterprise schemas only (no Lattice extension), in-process via httpx's WSGITransport."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from scim2_server.memory import InMemoryStorage
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.utils import load_default_provider

from reconciler.core.model import Action, Change, FieldChange, TargetUser
from reconciler.edges.http import NO_WAIT_RETRY
from reconciler.errors import AuthError, ConflictError
from reconciler.targets.scim.client import LatticeReader, LatticeWriter, WriteResult

TOKEN = "conformance-token"
BASE = "http://scim.test/v2"


@pytest.fixture
def transport() -> httpx.WSGITransport:
    app = BearerTokenApplication(InMemoryStorage(), load_default_provider(), bearer_tokens=[TOKEN])
    return httpx.WSGITransport(app=app)


@pytest.fixture
def writer(transport: httpx.WSGITransport) -> Iterator[LatticeWriter]:
    with LatticeWriter(
        base_url=BASE, token=TOKEN, transport=transport, retry=NO_WAIT_RETRY, requests_per_second=0
    ) as client:
        yield client


def read_all(transport: httpx.WSGITransport, *, page_size: int = 100) -> tuple[TargetUser, ...]:
    with LatticeReader(
        base_url=BASE,
        token=TOKEN,
        transport=transport,
        retry=NO_WAIT_RETRY,
        requests_per_second=0,
        page_size=page_size,
    ) as client:
        return client.fetch_users()


def create(source_id: str, email: str, *fields: FieldChange) -> Change:
    return Change(Action.CREATE, source_id, None, email, fields)


ADA = create(
    "1234",
    "ada@example.com",
    FieldChange("first_name", None, "Ada"),
    FieldChange("last_name", None, "Lovelace"),
    FieldChange("title", None, "Engineer"),
    FieldChange("department", None, "R&D"),
    FieldChange("email", None, "ada@example.com"),
)

ADA_FIELDS = {
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "preferred_name": None,
    "title": "Engineer",
    "department": "R&D",
    "manager": None,
    "start_date": None,
    "birth_date": None,
    "gender": None,
    "ethnicity": None,
    "sexual_orientation": None,
}


def test_a_created_user_lists_back_with_every_core_and_enterprise_field(
    transport: httpx.WSGITransport, writer: LatticeWriter
) -> None:
    result = writer.create(ADA, None)

    assert read_all(transport) == (
        TargetUser(result.target_id, "ada@example.com", True, "1234", ADA_FIELDS),
    )


def test_a_manager_is_written_as_a_scim_id_and_an_update_patches_and_removes(
    transport: httpx.WSGITransport, writer: LatticeWriter
) -> None:
    boss = writer.create(create("1", "grace@example.com"), None)
    ada = writer.create(ADA, None)
    update = Change(
        Action.UPDATE,
        "1234",
        ada.target_id,
        "ada.l@example.com",
        (
            FieldChange("department", "R&D", "Research"),
            FieldChange("email", "ada@example.com", "ada.l@example.com"),
            FieldChange("first_name", "Ada", "Augusta"),
            FieldChange("manager", None, "1"),
            FieldChange("title", "Engineer", None),
        ),
    )

    # scim2-server answers a PATCH without the resource: verified by one read-back
    assert writer.patch(update, boss.target_id) == WriteResult(ada.target_id, 1, read_backs=1)

    (user,) = (user for user in read_all(transport) if user.target_id == ada.target_id)
    assert user == TargetUser(
        ada.target_id,
        "ada.l@example.com",
        True,
        "1234",
        {
            **ADA_FIELDS,
            "email": "ada.l@example.com",
            "first_name": "Augusta",
            "department": "Research",
            "manager": boss.target_id,
            "title": None,
        },
    )

    writer.patch(
        Change(
            Action.UPDATE,
            "1234",
            ada.target_id,
            "ada.l@example.com",
            (FieldChange("manager", "1", None),),
        ),
        None,
    )
    (user,) = (user for user in read_all(transport) if user.target_id == ada.target_id)
    assert user.fields["manager"] is None
    assert user.fields["department"] == "Research"


def test_deactivate_then_reactivate(transport: httpx.WSGITransport, writer: LatticeWriter) -> None:
    ada = writer.create(ADA, None)

    writer.patch(Change(Action.DEACTIVATE, "1234", ada.target_id, "ada@example.com"), None)
    assert [user.active for user in read_all(transport)] == [False]

    reactivate = Change(
        Action.REACTIVATE,
        "1234",
        ada.target_id,
        "ada@example.com",
        (FieldChange("title", "Engineer", "Principal"),),
    )
    writer.patch(reactivate, None)
    (user,) = read_all(transport)
    assert (user.active, user.fields["title"]) == (True, "Principal")


def test_a_link_writes_the_external_id_onto_an_unlinked_user(
    transport: httpx.WSGITransport,
) -> None:
    with httpx.Client(
        base_url=BASE, transport=transport, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as raw:
        response = raw.post(
            "/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "grace@example.com",
            },
        )
    assert response.status_code == 201
    target_id = response.json()["id"]
    with LatticeWriter(
        base_url=BASE, token=TOKEN, transport=transport, retry=NO_WAIT_RETRY, requests_per_second=0
    ) as writer:
        writer.patch(
            Change(
                Action.LINK,
                "77",
                target_id,
                "grace@example.com",
                (FieldChange("last_name", None, "Hopper"),),
            ),
            None,
        )

    (user,) = read_all(transport)
    assert (user.external_id, user.fields["last_name"]) == ("77", "Hopper")


def test_listing_pages_through_every_user(
    transport: httpx.WSGITransport, writer: LatticeWriter
) -> None:
    created = [writer.create(create(str(n), f"person{n}@example.com"), None) for n in range(1, 24)]

    users = read_all(transport, page_size=5)

    assert [user.target_id for user in users] == sorted(result.target_id for result in created)
    assert sorted((user.external_id or "" for user in users), key=int) == [
        str(n) for n in range(1, 24)
    ]


def test_creating_the_same_person_twice_is_idempotent_and_someone_else_conflicts(
    writer: LatticeWriter,
) -> None:
    first = writer.create(ADA, None)
    # a 409 for our own externalId: idempotent, and recorded as already present, not created
    assert writer.create(ADA, None) == WriteResult(first.target_id, 1, already_present=True)

    with pytest.raises(ConflictError):
        writer.create(create("999", "ada@example.com"), None)


def test_a_wrong_key_is_refused(transport: httpx.WSGITransport) -> None:
    with (
        LatticeReader(
            base_url=BASE,
            token="wrong",
            transport=transport,
            retry=NO_WAIT_RETRY,
            requests_per_second=0,
        ) as reader,
        pytest.raises(AuthError),
    ):
        reader.check_access()
