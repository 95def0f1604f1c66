"""Values are compared as Lattice stores them: text in Unicode NFC on both sides, so a name
typed with a combining accent in Personio equals the precomposed one Lattice holds (no update
planned on every run), while a difference by an invisible character is still a difference."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.mapping import normalise_value
from reconciler.core.model import (
    Config,
    Employee,
    FieldSetting,
    LatticeSettings,
    PersonioSettings,
    SecretRef,
    SourceSnapshot,
    SyncSettings,
)
from reconciler.core.normalise import clean_text, fold, nfc, normalise_email
from reconciler.core.planner import compute_plan
from reconciler.sources.personio.profile import PERSONIO
from reconciler.targets.lattice.profile import LATTICE, LATTICE_SCIM
from reconciler.targets.scim.resources import CORE_URN, ENTERPRISE_URN, parse_user

COMPOSED = "Tom\u00e1s Ib\u00e1\u00f1ez"  # "Tomás Ibáñez", one code point per letter
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)  # a + U+0301, n + U+0303


def test_the_two_spellings_differ_as_strings_but_not_once_normalised() -> None:
    assert COMPOSED != DECOMPOSED
    assert nfc(DECOMPOSED) == COMPOSED
    assert clean_text(f"  {DECOMPOSED} ") == COMPOSED
    assert clean_text("   ") is None
    assert nfc("plain ascii") == "plain ascii"
    assert normalise_value(DECOMPOSED) == COMPOSED
    assert normalise_value(("Espan\u0303ol", "SQL")) == "Espa\u00f1ol, SQL"
    assert fold(" Jose\u0301@Example.com ") == "jos\u00e9@example.com"
    assert normalise_email("jose\u0301@example.com") == normalise_email("jos\u00e9@example.com")


def test_invisible_characters_are_not_normalised_away() -> None:
    # NFC leaves them alone: a difference by one stays a difference (shown escaped).
    for invisible in ("\u200b", "\u00a0", "\u2060", "\u202e"):
        assert clean_text(f"Ana{invisible}Lopez") != "Ana Lopez"


@given(st.text(max_size=40))
def test_any_text_and_its_decomposition_compare_equal(text: str) -> None:
    assert clean_text(unicodedata.normalize("NFD", text)) == clean_text(text)
    assert clean_text(unicodedata.normalize("NFC", text)) == clean_text(text)


def resource(title: str, family: str) -> dict[str, object]:
    return {
        "schemas": [CORE_URN, ENTERPRISE_URN],
        "id": "u1",
        "externalId": "1",
        "userName": "p1@example.com",
        "active": True,
        "name": {"givenName": "Ana", "familyName": family, "formatted": f"Ana {family}"},
        "title": title,
    }


def test_a_lattice_user_is_read_in_nfc() -> None:
    user = parse_user(resource(DECOMPOSED, "Garci\u0301a"), LATTICE_SCIM)
    assert user.fields["title"] == COMPOSED
    assert user.fields["last_name"] == "Garc\u00eda"


def config() -> Config:
    enabled = ("first_name", "last_name", "title")
    return Config(
        personio=PersonioSettings(
            "https://api.personio.de/v1", SecretRef("PID"), SecretRef("PSECRET"), "test-app"
        ),
        lattice=LatticeSettings("https://api.latticehq.com/scim/v2", SecretRef("LTOKEN")),
        sync=SyncSettings(),
        fields=tuple(
            FieldSetting(name, name in enabled, source)
            for name, source in PERSONIO.default_sources.items()
        ),
    )


def plan_between(personio_title: str, lattice_title: str, family: str = "Garc\u00eda") -> int:
    """How many changes the planner wants when Personio and Lattice hold these spellings."""
    person = Employee(
        "1",
        {
            "id": "1",
            "email": "p1@example.com",
            "first_name": "Ana",
            "last_name": unicodedata.normalize("NFD", family),
            "status": "active",
            "employment_type": "internal",
            "position": personio_title,
        },
    )
    user = parse_user(resource(lattice_title, family), LATTICE_SCIM)
    plan = compute_plan(
        SourceSnapshot((person,)), [user], config(), source=PERSONIO, target=LATTICE
    )
    return len(plan.changes)


def test_a_decomposed_personio_value_equals_the_composed_lattice_one() -> None:
    assert plan_between(DECOMPOSED, COMPOSED) == 0


def test_a_composed_personio_value_equals_a_decomposed_lattice_one() -> None:
    assert plan_between(COMPOSED, DECOMPOSED) == 0


def test_a_value_differing_by_an_invisible_character_is_still_planned() -> None:
    assert plan_between(COMPOSED.replace(" ", "\u00a0"), COMPOSED) == 1
    assert plan_between(COMPOSED + "\u200b", COMPOSED) == 1
