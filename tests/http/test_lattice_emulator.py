"""The Lattice clients against the Lattice emulator: round trips, Lattice's quirks, every fault.
In-process through the emulator's transport, plus one run over a real localhost EmulatorServer."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from reconciler.core.model import (
    STANDARD_FIELDS,
    Action,
    Change,
    Config,
    CustomAttribute,
    Employee,
    FieldChange,
    FieldSetting,
    LatticeSettings,
    PersonioSettings,
    SecretRef,
    SourceSnapshot,
    TargetUser,
)
from reconciler.core.planner import compute_plan
from reconciler.edges.http import NO_WAIT_RETRY, RetryPolicy
from reconciler.errors import AuthError, ConflictError, InvalidValueError, NotFoundError
from reconciler.sandbox.lattice_emulator import (
    MAX_CHOICES,
    LatticeEmulator,
    LatticeFaults,
    RecordedRequest,
)
from reconciler.sandbox.transport import EmulatorServer
from reconciler.sources.personio.profile import PERSONIO
from reconciler.targets.lattice.profile import LATTICE, LATTICE_URN
from reconciler.targets.scim.client import LatticeReader, LatticeWriter, WriteResult
from reconciler.targets.scim.dialect import SchemaAttribute
from reconciler.targets.scim.resources import CORE_URN, ENTERPRISE_URN

TOKEN = "emulator-token"
BASE = "http://lattice.test/scim/v2"
CUSTOM = {"Cost Center": "text", "Level": "number", "Buddy": "user"}


def emulator(
    *, users: int = 0, faults: LatticeFaults | None = None, custom: dict[str, str] | None = None
) -> LatticeEmulator:
    return LatticeEmulator(
        token=TOKEN,
        custom_attributes=CUSTOM if custom is None else custom,
        users=[
            {"userName": f"person{n}@example.com", "externalId": str(n)}
            for n in range(1, users + 1)
        ],
        faults=faults,
    )


def reader(
    lattice: LatticeEmulator,
    *,
    token: str = TOKEN,
    retry: RetryPolicy = NO_WAIT_RETRY,
    sleep: Callable[[float], None] = time.sleep,
) -> LatticeReader:
    return LatticeReader(
        base_url=BASE,
        token=token,
        transport=lattice.transport(),
        retry=retry,
        sleep=sleep,
        requests_per_second=0,
    )


def writer(lattice: LatticeEmulator, *, retry: RetryPolicy = NO_WAIT_RETRY) -> LatticeWriter:
    return LatticeWriter(
        base_url=BASE,
        token=TOKEN,
        transport=lattice.transport(),
        retry=retry,
        requests_per_second=0,
    )


def stored(lattice: LatticeEmulator, user_id: str) -> dict[str, object]:
    return {key: value for key, value in lattice.users[user_id].items() if key != "meta"}


def create_change(source_id: str, email: str, *fields: FieldChange) -> Change:
    return Change(Action.CREATE, source_id, None, email, fields)


ADA = create_change(
    "1234",
    "ada@example.com",
    FieldChange("first_name", None, "Ada"),
    FieldChange("last_name", None, "Lovelace"),
    FieldChange("preferred_name", None, "Addie"),
    FieldChange("title", None, "Engineer"),
    FieldChange("department", None, "R&D"),
    FieldChange("manager", None, "1"),
    FieldChange("start_date", None, "2021-03-01"),
    FieldChange("birth_date", None, "1990-12-10"),
    FieldChange("gender", None, "Female"),
    FieldChange("ethnicity", None, "Hispanic or Latino"),
    FieldChange("custom:Cost Center", None, "CC-100"),
    FieldChange("custom:Level", None, 3),
    FieldChange("custom:Buddy", None, "grace@example.com"),
)


# ---------------------------------------------------------------------------------------------
# State round trips
# ---------------------------------------------------------------------------------------------


def test_a_created_user_is_stored_whole_and_reads_back_as_written() -> None:
    lattice = emulator(users=1)
    with writer(lattice) as client:
        result = client.create(ADA, "u_000001")

    assert result == WriteResult("u_000002", 1)
    assert stored(lattice, "u_000002") == {
        "schemas": [CORE_URN, ENTERPRISE_URN, LATTICE_URN],
        "id": "u_000002",
        "externalId": "1234",
        "userName": "ada@example.com",
        "active": True,
        "emails": [{"value": "ada@example.com", "primary": True, "type": "work"}],
        "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
        "nickName": "Addie",
        "title": "Engineer",
        ENTERPRISE_URN: {"department": "R&D", "manager": {"value": "u_000001"}},
        LATTICE_URN: {
            "startDate": "2021-03-01",
            "birthDate": "1990-12-10",
            "gender": "Female",
            "ethnicity": "Hispanic or Latino",
            "Cost Center": "CC-100",
            "Level": 3,
            "Buddy": "grace@example.com",
        },
    }
    with reader(lattice) as client:
        users = client.fetch_users()
    assert users[1] == TargetUser(
        target_id="u_000002",
        email="ada@example.com",
        active=True,
        external_id="1234",
        fields={
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "preferred_name": "Addie",
            "title": "Engineer",
            "department": "R&D",
            "manager": "u_000001",
            "start_date": "2021-03-01",
            "birth_date": "1990-12-10",
            "gender": "Female",
            "ethnicity": "Hispanic or Latino",
            "sexual_orientation": None,
            "custom:Cost Center": "CC-100",
            "custom:Level": 3,
            "custom:Buddy": "grace@example.com",
        },
    )


def test_link_update_deactivate_and_reactivate_each_take_one_patch() -> None:
    lattice = emulator()
    user_id = lattice.seed_user(
        {
            "userName": "ada@example.com",
            "name": {"givenName": "Ad", "familyName": "Lovelace", "formatted": "Ad Lovelace"},
            "title": "Engineer",
            LATTICE_URN: {"Cost Center": "CC-1"},
        }
    )
    changes = [
        Change(
            Action.LINK, "1234", user_id, "ada@example.com", (FieldChange("title", "x", "CTO"),)
        ),
        Change(
            Action.UPDATE,
            "1234",
            user_id,
            "ada@example.com",
            (
                FieldChange("first_name", "Ad", "Ada"),
                FieldChange("custom:Cost Center", "CC-1", None),
                FieldChange("department", None, "R&D"),
            ),
        ),
        Change(Action.DEACTIVATE, "1234", user_id, "ada@example.com"),
        Change(Action.REACTIVATE, "1234", user_id, "ada@example.com"),
    ]
    with writer(lattice) as client:
        results = [client.patch(change, None) for change in changes]

    assert results == [WriteResult(user_id, 1)] * 4
    assert [(r.method, r.status) for r in lattice.requests] == [("PATCH", 200)] * 4
    assert stored(lattice, user_id) == {
        "schemas": [CORE_URN],
        "id": user_id,
        "externalId": "1234",
        "userName": "ada@example.com",
        "active": True,
        "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
        "title": "CTO",
        LATTICE_URN: {},
        ENTERPRISE_URN: {"department": "R&D"},
    }


def test_a_deactivated_user_is_still_listed() -> None:
    lattice = emulator(users=2)
    with writer(lattice) as client:
        client.patch(Change(Action.DEACTIVATE, "2", "u_000002", "person2@example.com"), None)
    with reader(lattice) as client:
        users = client.fetch_users()
    assert [(user.target_id, user.active) for user in users] == [
        ("u_000001", True),
        ("u_000002", False),
    ]


def test_nickname_changes_are_ignored_on_patch() -> None:
    lattice = emulator()
    user_id = lattice.seed_user({"userName": "ada@example.com", "nickName": "Addie"})
    change = Change(
        Action.UPDATE,
        "1",
        user_id,
        "ada@example.com",
        (FieldChange("preferred_name", "Addie", "Ace"), FieldChange("title", None, "CTO")),
    )
    with writer(lattice) as client:
        client.patch(change, None)
        client.patch(
            Change(
                Action.UPDATE,
                "1",
                user_id,
                "ada@example.com",
                (FieldChange("preferred_name", "Addie", None),),
            ),
            None,
        )
    assert lattice.users[user_id]["nickName"] == "Addie"
    assert lattice.users[user_id]["title"] == "CTO"


def test_users_are_found_by_username_any_case_by_email_and_by_external_id() -> None:
    lattice = emulator(users=3)
    lattice.seed_user(
        {
            "userName": "Ada@Example.com",
            "emails": [{"value": "ada.alias@example.com"}],
            "externalId": "77",
        }
    )
    client = httpx.Client(
        base_url=BASE, transport=lattice.transport(), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    filters = [
        'userName eq "ada@example.COM"',
        'emails eq "ADA.alias@example.com"',
        'emails.value eq "ada.alias@example.com"',
        'externalId eq "77"',
    ]
    with client:
        found = [client.get("/Users", params={"filter": f}).json() for f in filters]
        missing = client.get("/Users", params={"filter": 'externalId eq "78"'}).json()
        refused = client.get("/Users", params={"filter": 'title co "x"'})
    assert [(page["totalResults"], page["Resources"][0]["id"]) for page in found] == [
        (1, "u_000004")
    ] * 4
    assert missing["totalResults"] == 0
    assert missing["Resources"] == []
    assert refused.status_code == 400
    assert refused.json()["scimType"] == "invalidFilter"


def test_gender_and_its_kind_are_standard_attributes_of_the_lattice_schema() -> None:
    lattice = emulator()
    schema = lattice(
        httpx.Request(
            "GET",
            f"{BASE}/Schemas/{LATTICE_URN}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    ).json()
    listed = {attribute["name"]: attribute["type"] for attribute in schema["attributes"]}
    assert {key: listed[key] for key in ("gender", "ethnicity", "sexualOrientation")} == {
        "gender": "string",
        "ethnicity": "string",
        "sexualOrientation": "string",
    }
    with pytest.raises(ValueError, match="standard Lattice attribute"):
        LatticeEmulator(token=TOKEN, custom_attributes={"Gender": "text"})


def test_custom_attribute_names_and_service_config_are_served() -> None:
    lattice = emulator()
    with reader(lattice) as client:
        attributes = client.fetch_custom_attributes()
    scim_types = {"text": "string", "number": "decimal", "user": "string"}
    assert attributes == {
        name: SchemaAttribute(name, scim_types[kind]) for name, kind in CUSTOM.items()
    }
    response = lattice(
        httpx.Request(
            "GET",
            f"{BASE}/ServiceProviderConfig",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    )
    assert response.json()["patch"] == {"supported": True}
    assert response.json()["bulk"]["supported"] is False


def test_patch_ops_with_paths_work_as_rfc_7644_says() -> None:
    lattice = emulator()
    user_id = lattice.seed_user(
        {
            "userName": "ada@example.com",
            "name": {"givenName": "Ada", "familyName": "Byron", "formatted": "Ada Byron"},
            "emails": [{"value": "ada@example.com", "primary": True}],
            ENTERPRISE_URN: {"department": "R&D", "manager": {"value": "u_x"}},
        }
    )
    operations = [
        {"op": "Replace", "path": "active", "value": False},
        {"op": "replace", "path": "name.familyName", "value": "Lovelace"},
        {"op": "add", "path": "emails", "value": [{"value": "ada.alias@example.com"}]},
        {"op": "remove", "path": f"{ENTERPRISE_URN}:manager"},
        {"op": "add", "path": f"{LATTICE_URN}:Cost Center", "value": "CC-1"},
        {"op": "replace", "path": "nickName", "value": "Addie"},
    ]
    response = lattice(
        httpx.Request(
            "PATCH",
            f"{BASE}/Users/{user_id}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": operations,
            },
        )
    )
    assert response.status_code == 200
    assert stored(lattice, user_id) == {
        "schemas": [CORE_URN],
        "id": user_id,
        "userName": "ada@example.com",
        "active": False,
        "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
        "emails": [
            {"value": "ada@example.com", "primary": True},
            {"value": "ada.alias@example.com"},
        ],
        ENTERPRISE_URN: {"department": "R&D"},
        LATTICE_URN: {"Cost Center": "CC-1"},
    }
    assert response.json()["meta"]["version"] == 'W/"2"'


def test_a_user_seeded_with_an_undeclared_attribute_can_still_be_patched() -> None:
    lattice = emulator()
    user_id = lattice.seed_user({"userName": "ada@example.com", LATTICE_URN: {"Old thing": "x"}})
    change = Change(
        Action.UPDATE, "1", user_id, "ada@example.com", (FieldChange("title", None, "CTO"),)
    )
    with writer(lattice) as client:
        client.patch(change, None)
    assert lattice.users[user_id]["title"] == "CTO"


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------


def test_a_wrong_key_is_an_auth_error() -> None:
    lattice = emulator()
    with reader(lattice, token="wrong") as client, pytest.raises(AuthError) as caught:
        client.check_access()
    assert caught.value.status == 401
    assert "wrong" not in str(caught.value)
    assert lattice.requests == [RecordedRequest("GET", "/scim/v2/Users", 401)]


def test_an_unknown_custom_attribute_is_an_invalid_value_naming_it() -> None:
    lattice = emulator()
    change = create_change("1", "ada@example.com", FieldChange("custom:Shoe size", None, "42"))
    with writer(lattice) as client, pytest.raises(InvalidValueError) as caught:
        client.create(change, None)
    assert str(caught.value) == (
        "lattice POST Users → 400: unknown custom attribute 'Shoe size': create it in Lattice first"
    )
    assert lattice.users == {}


def test_a_number_attribute_refuses_text() -> None:
    lattice = emulator()
    change = create_change("1", "ada@example.com", FieldChange("custom:Level", None, "three"))
    with writer(lattice) as client, pytest.raises(InvalidValueError, match="needs a number"):
        client.create(change, None)


def test_a_multiple_choice_attribute_refuses_a_choice_beyond_200() -> None:
    lattice = emulator()
    for n in range(MAX_CHOICES):
        lattice.seed_user(
            {"userName": f"p{n}@example.com", LATTICE_URN: {"Cost Center": f"CC-{n}"}}
        )
    new_choice = create_change(
        "1", "a@example.com", FieldChange("custom:Cost Center", None, "CC-X")
    )
    old_choice = create_change(
        "2", "b@example.com", FieldChange("custom:Cost Center", None, "CC-7")
    )
    with writer(lattice) as client:
        with pytest.raises(InvalidValueError, match="already has 200 choices"):
            client.create(new_choice, None)
        assert client.create(old_choice, None).target_id == "u_000201"


TYPED = {"Probation End": "date", "Skills": "multi_select"}


def make_config(custom: tuple[CustomAttribute, ...]) -> Config:
    """Only ``custom`` managed: no standard field but the names."""
    return Config(
        personio=PersonioSettings("https://p.example.com", SecretRef("P"), SecretRef("S"), "APP"),
        lattice=LatticeSettings(BASE, SecretRef("L")),
        fields=tuple(
            FieldSetting(name, False, PERSONIO.default_sources[name]) for name in STANDARD_FIELDS
        ),
        custom_attributes=custom,
    )


def test_a_date_and_a_multi_select_attribute_round_trip_as_a_date_and_a_sorted_set() -> None:
    lattice = emulator(custom=TYPED)
    change = create_change(
        "1",
        "ada@example.com",
        FieldChange("custom:Probation End", None, "2026-07-01"),
        FieldChange("custom:Skills", None, ("Go", "Python")),
    )
    with writer(lattice) as client:
        target_id = client.create(change, None).target_id
    assert lattice.users[target_id][LATTICE_URN] == {
        "Probation End": "2026-07-01",
        "Skills": ["Go", "Python"],
    }
    # Lattice may return the choices in any order: read back, they are the same set.
    extension = lattice.users[target_id][LATTICE_URN]
    assert isinstance(extension, dict)
    extension["Skills"] = ["Python", "Go"]
    with reader(lattice) as client:
        (user,) = client.fetch_users()
    config = make_config(
        (
            CustomAttribute("dynamic_1", "Probation End", "date"),
            CustomAttribute("dynamic_2", "Skills", "multi_select"),
        )
    )
    employee = Employee(
        "1",
        {
            "id": "1",
            "email": "ada@example.com",
            "status": "active",
            "employment_type": "internal",
            "dynamic_1": "2026-07-01T00:00:00+02:00",
            "dynamic_2": ("Python", "Go"),
        },
    )
    plan = compute_plan(
        SourceSnapshot((employee,)), [user], config, source=PERSONIO, target=LATTICE
    )
    assert plan.changes == ()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("Probation End", "01.07.2026", "needs a date"),
        ("Probation End", "2026-02-30", "needs a date"),
        ("Probation End", 20260701, "needs a date"),
        ("Skills", "Go, Python", "needs a list"),
        ("Skills", ["Go", "Go"], "needs a list"),
        ("Skills", ["Go", ""], "needs a list"),
        ("Skills", ["Go", 3], "needs a list"),
    ],
)
def test_a_date_or_multi_select_attribute_refuses_a_value_of_another_shape(
    name: str, value: object, message: str
) -> None:
    lattice = emulator(custom=TYPED)
    change = create_change("1", "ada@example.com", FieldChange(f"custom:{name}", None, value))  # type: ignore[arg-type]
    with writer(lattice) as client, pytest.raises(InvalidValueError, match=message):
        client.create(change, None)


def test_a_date_attribute_has_no_choice_limit() -> None:
    lattice = emulator(custom=TYPED)
    for n in range(MAX_CHOICES):
        day = f"2020-{1 + n // 28:02d}-{1 + n % 28:02d}"
        lattice.seed_user({"userName": f"p{n}@example.com", LATTICE_URN: {"Probation End": day}})
    change = create_change(
        "1", "a@example.com", FieldChange("custom:Probation End", None, "2030-01-01")
    )
    with writer(lattice) as client:
        assert client.create(change, None).target_id == f"u_{MAX_CHOICES + 1:06d}"


def test_a_multi_select_counts_options_not_sets_and_refuses_the_201st_option() -> None:
    lattice = emulator(custom=TYPED)
    options = [f"S{n:03d}" for n in range(MAX_CHOICES)]
    # 200 options held in 400 different sets: still 200 choices.
    for n in range(2 * MAX_CHOICES):
        held = [options[n % MAX_CHOICES], options[(n * 7 + 1) % MAX_CHOICES]]
        lattice.seed_user({"userName": f"p{n}@example.com", LATTICE_URN: {"Skills": held}})
    new_set = create_change(
        "1", "a@example.com", FieldChange("custom:Skills", None, ("S000", "S150", "S199"))
    )
    new_option = create_change(
        "2", "b@example.com", FieldChange("custom:Skills", None, ("S000", "Z-new"))
    )
    with writer(lattice) as client:
        assert client.create(new_set, None).target_id
        with pytest.raises(InvalidValueError, match="more than 200 options"):
            client.create(new_option, None)


def test_the_lattice_schema_publishes_a_multi_select_as_multi_valued() -> None:
    lattice = emulator(custom=TYPED)
    response = lattice(
        httpx.Request(
            "GET",
            f"{BASE}/Schemas/{LATTICE_URN}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    )
    attributes = {item["name"]: item for item in response.json()["attributes"]}
    assert attributes["Skills"]["multiValued"] is True
    assert attributes["Probation End"]["multiValued"] is False


def test_an_unknown_custom_attribute_type_is_refused_when_the_emulator_is_built() -> None:
    with pytest.raises(ValueError, match="type must be one of date, multi_select, number"):
        LatticeEmulator(token=TOKEN, custom_attributes={"Mood": "emoji"})


def test_a_duplicate_username_is_a_conflict_whatever_its_case() -> None:
    lattice = emulator(users=1)
    change = create_change("999", "PERSON1@example.com")
    with writer(lattice) as client, pytest.raises(ConflictError) as caught:
        client.create(change, None)
    assert str(caught.value) == "lattice POST Users → 409: userName is already in use"


def test_a_duplicate_external_id_is_a_conflict_on_patch_too() -> None:
    lattice = emulator(users=2)
    change = Change(Action.LINK, "1", "u_000002", "person2@example.com")
    with writer(lattice) as client, pytest.raises(ConflictError):
        client.patch(change, None)
    assert lattice.users["u_000002"]["externalId"] == "2"


def test_patching_an_unknown_user_is_not_found() -> None:
    lattice = emulator()
    change = Change(Action.DEACTIVATE, "1", "u_404", "ada@example.com")
    with writer(lattice) as client, pytest.raises(NotFoundError):
        client.patch(change, None)


def test_a_manager_that_does_not_exist_is_refused() -> None:
    lattice = emulator()
    change = create_change("1", "ada@example.com", FieldChange("manager", None, "2"))
    with writer(lattice) as client, pytest.raises(InvalidValueError, match="manager u_9 is not"):
        client.create(change, "u_9")


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------


def statuses(lattice: LatticeEmulator) -> list[tuple[str, int | None]]:
    return [(request.method, request.status) for request in lattice.requests]


def test_rate_limiting_is_waited_out_as_retry_after_says() -> None:
    lattice = emulator(users=3, faults=LatticeFaults(rate_limit=2, retry_after=1.5))
    sleeps: list[float] = []
    policy = RetryPolicy(base_delay=10, jitter=False)
    with reader(lattice, retry=policy, sleep=sleeps.append) as client:
        assert len(client.fetch_users()) == 3
    assert sleeps == [1.5, 1.5]
    assert statuses(lattice) == [("GET", 429), ("GET", 429), ("GET", 200)]


def test_rate_limiting_without_retry_after_backs_off() -> None:
    lattice = emulator(users=1, faults=LatticeFaults(rate_limit=3, retry_after=None))
    sleeps: list[float] = []
    # after a 429 without Retry-After the wait is at least min_rate_limit_delay
    policy = RetryPolicy(base_delay=0.25, jitter=False, min_rate_limit_delay=0.4)
    with reader(lattice, retry=policy, sleep=sleeps.append) as client:
        assert len(client.fetch_users()) == 1
    assert sleeps == [0.4, 0.5, 1.0]


def test_server_errors_alternate_500_and_503_and_are_retried() -> None:
    lattice = emulator(users=1, faults=LatticeFaults(server_errors=2))
    with reader(lattice) as client:
        assert len(client.fetch_users()) == 1
    assert statuses(lattice) == [("GET", 500), ("GET", 503), ("GET", 200)]


def test_a_share_of_failing_requests_still_lists_everyone() -> None:
    lattice = emulator(users=1000, faults=LatticeFaults(error_rate=0.3, seed=7))
    policy = RetryPolicy(max_attempts=10, base_delay=0, max_delay=0, jitter=False)
    with reader(lattice, retry=policy) as client:
        users = client.fetch_users()
    assert len(users) == 1000
    failed = [request for request in lattice.requests if request.status == 503]
    assert failed  # the seed does fail some
    assert len(lattice.requests) == 10 + len(failed)


def test_timeouts_and_slow_answers_on_reads_are_survived() -> None:
    lattice = emulator(users=150, faults=LatticeFaults(timeouts=2, slow_seconds=0.001))
    with reader(lattice) as client:
        assert len(client.fetch_users()) == 150
    assert statuses(lattice).count(("GET", None)) == 2
    assert statuses(lattice).count(("GET", 200)) == 2


def test_a_short_page_loses_no_one() -> None:
    lattice = emulator(users=250, faults=LatticeFaults(short_page_once=True))
    with reader(lattice) as client:
        users = client.fetch_users()
    assert [user.target_id for user in users] == [f"u_{n:06d}" for n in range(1, 251)]
    # the first page came back with 99, so the rest was asked for from position 100 on
    assert lattice.reads() == 3


def test_a_malformed_list_body_is_fetched_again() -> None:
    lattice = emulator(users=5, faults=LatticeFaults(malformed_json=1))
    with reader(lattice) as client:
        assert len(client.fetch_users()) == 5
    assert lattice.reads() == 2


def test_a_create_reset_before_the_work_is_posted_again_once() -> None:
    lattice = emulator(faults=LatticeFaults(resets_before=1))
    with writer(lattice) as client:
        assert client.create(create_change("1", "ada@example.com"), None) == (
            WriteResult("u_000001", 2)
        )
    assert statuses(lattice) == [("POST", None), ("GET", 200), ("GET", 200), ("POST", 201)]
    assert len(lattice.users) == 1


def test_a_create_reset_after_the_work_is_found_not_posted_again() -> None:
    lattice = emulator(faults=LatticeFaults(resets_after=1))
    with writer(lattice) as client:
        result = client.create(create_change("1", "ada@example.com"), None)
    assert result == WriteResult("u_000001", 1)
    assert statuses(lattice) == [("POST", None), ("GET", 200)]


def test_a_create_whose_answer_is_garbled_is_found_not_posted_again() -> None:
    lattice = emulator(faults=LatticeFaults(malformed_json=1, writes_only=True))
    with writer(lattice) as client:
        result = client.create(create_change("1", "ada@example.com"), None)
    assert result == WriteResult("u_000001", 1)
    assert statuses(lattice) == [("POST", 201), ("GET", 200)]


def test_a_create_that_timed_out_is_looked_up_first() -> None:
    lattice = emulator(faults=LatticeFaults(timeouts=1, writes_only=True))
    with writer(lattice) as client:
        result = client.create(create_change("1", "ada@example.com"), None)
    assert result == WriteResult("u_000001", 2)
    assert statuses(lattice) == [("POST", None), ("GET", 200), ("GET", 200), ("POST", 201)]


def test_writes_only_faults_leave_reads_alone() -> None:
    lattice = emulator(users=1, faults=LatticeFaults(rate_limit=1, writes_only=True))
    with reader(lattice) as client:
        client.fetch_users()
    with writer(lattice) as client:
        client.patch(Change(Action.DEACTIVATE, "1", "u_000001", "person1@example.com"), None)
    assert statuses(lattice) == [("GET", 200), ("PATCH", 429), ("PATCH", 200)]


def test_a_patch_reset_after_the_work_is_repeated_harmlessly() -> None:
    lattice = emulator(users=1, faults=LatticeFaults(resets_after=1))
    change = Change(
        Action.UPDATE, "1", "u_000001", "person1@example.com", (FieldChange("title", None, "CTO"),)
    )
    with writer(lattice) as client:
        assert client.patch(change, None) == WriteResult("u_000001", 2)
    assert lattice.users["u_000001"]["title"] == "CTO"
    assert statuses(lattice) == [("PATCH", None), ("PATCH", 200)]


def test_no_duplicate_user_is_ever_created_when_answers_are_lost() -> None:
    faults = LatticeFaults(resets_after=15, resets_before=5, error_rate=0.2, seed=3)
    lattice = emulator(faults=faults)
    changes = [create_change(str(n), f"person{n}@example.com") for n in range(1, 41)]
    policy = RetryPolicy(max_attempts=8, base_delay=0, max_delay=0, jitter=False)
    with writer(lattice, retry=policy) as client, ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda change: client.create(change, None), changes))

    by_external_id = {str(user["externalId"]): user_id for user_id, user in lattice.users.items()}
    assert statuses(lattice).count(("POST", None)) == 20  # every injected reset hit a create
    assert len(lattice.users) == 40
    assert sorted(by_external_id, key=int) == [str(n) for n in range(1, 41)]
    assert {result.target_id for result in results} == set(lattice.users)
    assert [by_external_id[change.source_id or ""] for change in changes] == [
        result.target_id for result in results
    ]


# ---------------------------------------------------------------------------------------------
# Over a real socket
# ---------------------------------------------------------------------------------------------


def test_the_clients_work_over_a_real_localhost_server_with_a_dropped_connection() -> None:
    lattice = emulator(users=120, faults=LatticeFaults(resets_after=1))
    with EmulatorServer(lattice) as server:
        base_url = f"{server.url}/scim/v2"
        with LatticeWriter(
            base_url=base_url, token=TOKEN, retry=NO_WAIT_RETRY, requests_per_second=0
        ) as client:
            created = client.create(create_change("500", "ada@example.com"), None)
        with LatticeReader(
            base_url=base_url, token=TOKEN, retry=NO_WAIT_RETRY, requests_per_second=0
        ) as client:
            users = client.fetch_users()

    assert created == WriteResult("u_000121", 1)
    assert len(users) == 121
    assert users[-1].external_id == "500"
    assert statuses(lattice)[:2] == [("POST", None), ("GET", 200)]


def test_a_user_stored_with_other_spellings_reads_back_and_plans_nothing() -> None:
    # What another provisioning tool may have left behind: attribute names in other cases.
    lattice = emulator()
    lattice.seed_user(
        {
            "USERNAME": "ada@example.com",
            "externalId": "1",
            "Emails": [{"Value": "ada@example.com", "Primary": True}],
            "Name": {"GivenName": "Ada", "FamilyName": "Lovelace"},
            LATTICE_URN.lower(): {"cost CENTER": "CC-100"},
        }
    )
    with reader(lattice) as client:
        (found,) = client.fetch_users()
    assert (found.email, found.external_id) == ("ada@example.com", "1")
    assert (found.fields["first_name"], found.fields["last_name"]) == ("Ada", "Lovelace")

    config = Config(
        personio=PersonioSettings("https://p.example.com", SecretRef("P"), SecretRef("S"), "APP"),
        lattice=LatticeSettings(BASE, SecretRef("L")),
        fields=tuple(
            FieldSetting(name, False, PERSONIO.default_sources[name]) for name in STANDARD_FIELDS
        ),
        custom_attributes=(CustomAttribute("cost_center", "Cost Center"),),
    )
    person = Employee(
        "1",
        {
            "id": "1",
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "status": "active",
            "employment_type": "internal",
            "cost_center": "CC-100",
        },
    )
    plan = compute_plan(
        SourceSnapshot((person,)), (found,), config, source=PERSONIO, target=LATTICE
    )
    assert plan.changes == ()
