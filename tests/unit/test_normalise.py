"""The one copy of each normalisation rule: folding, email form, numeric-aware id order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.normalise import fold, id_sort_key, is_email, normalise_email


def test_ids_sort_numerically_then_as_text_with_none_last() -> None:
    ids = ["10", "abc", None, "9", "010", "b", "0020", "11"]
    assert sorted(ids, key=id_sort_key) == ["9", "010", "10", "11", "0020", "abc", "b", None]


def test_a_five_thousand_digit_id_sorts_without_converting_to_int() -> None:
    # int("9" * 5000) raises ValueError (Python's limit on long digit strings).
    huge = "9" * 5000
    assert sorted([huge, "12", "7" + "0" * 4999], key=id_sort_key) == [
        "12",
        "7" + "0" * 4999,
        huge,
    ]


@given(st.lists(st.integers(min_value=0, max_value=10**30), max_size=30))
def test_digit_ids_sort_as_their_numbers(numbers: list[int]) -> None:
    ids = [str(number) for number in numbers]
    assert [int(i) for i in sorted(ids, key=id_sort_key)] == sorted(numbers)


def test_emails_are_trimmed_and_case_folded_and_junk_is_refused() -> None:
    assert fold("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    assert normalise_email(" Ada@Example.com ") == "ada@example.com"
    assert normalise_email("not an email") is None
    assert normalise_email(42) is None
    assert is_email("ada@example.com")
    assert not is_email("ada@localhost")
    assert not is_email("a b@example.com")
