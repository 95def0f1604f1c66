"""Lattice's published example user (README.md in this folder) read by our SCIM parser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.targets.lattice.profile import LATTICE_SCIM
from reconciler.targets.scim.resources import parse_user


def test_the_example_user_parses_into_a_target_user(fixture_json: Callable[[str], Any]) -> None:
    user = parse_user(fixture_json("lattice/example_user.json"), LATTICE_SCIM)
    assert (user.target_id, user.email, user.active, user.external_id) == (
        "52d2420e-cbd0-11ec-bfdd-93fec5413bdc",
        "First.Last+demo@example.com",
        True,
        None,
    )
    fields = user.fields
    # givenName/familyName are null: recovered from the two words of name.formatted
    assert (fields["first_name"], fields["last_name"]) == ("First", "Last")
    assert (fields["preferred_name"], fields["title"], fields["department"]) == (
        "First",
        "People Operations",
        "People Operations",
    )
    assert fields["manager"] == "52d2780a-cbd0-11ec-a46c-f74aca5988d8"
    assert (fields["start_date"], fields["birth_date"]) == ("2017-01-01", "1992-04-18")
    # custom attributes are keyed by their display name, spaces and brackets included
    assert fields["custom:Office Location"] == "SF"
    assert fields["custom:Tee Shirt Size"] == "Large"
    assert fields["custom:GblPayBRAWorkLocationCity (Employee)"] == "Hybrid"
