"""``doctor``'s custom attribute check: each mapped attribute exists in Lattice's ``/Schemas``
(case-insensitively) with a SCIM type that can hold what its config ``type`` writes.
Pure: the schema attributes are given as ``fetch_custom_attributes`` returns them.
"""

from __future__ import annotations

import pytest

from reconciler.app import COMPATIBLE_SCIM_TYPES, check_custom_attributes
from reconciler.config import parse_config
from reconciler.core.model import Config
from reconciler.targets.scim.dialect import SchemaAttribute

MINIMAL = """\
version: 1
personio:
  client_id: env:PERSONIO_CLIENT_ID
  client_secret: env:PERSONIO_CLIENT_SECRET
  app_id: ACME_LATTICE_SYNC
lattice:
  token: env:LATTICE_SCIM_TOKEN
custom_attributes:
"""


def config_mapping(*mappings: tuple[str, str]) -> Config:
    lines = "".join(
        f"  - {{personio: dynamic_{index}, lattice: {name}, type: {kind}}}\n"
        for index, (name, kind) in enumerate(mappings)
    )
    return parse_config(MINIMAL + lines, "t.yaml")


def schema(*attributes: SchemaAttribute) -> dict[str, SchemaAttribute]:
    return {attribute.name: attribute for attribute in attributes}


@pytest.mark.parametrize(
    ("kind", "scim_type"),
    [(kind, scim) for kind, scims in COMPATIBLE_SCIM_TYPES.items() for scim in sorted(scims)],
)
def test_every_compatible_type_passes(kind: str, scim_type: str) -> None:
    # A multi-select is a multi-valued attribute in Lattice's schema; everything else is not.
    found = SchemaAttribute("Thing", scim_type, multi_valued=kind == "multi_select")
    check = check_custom_attributes(config_mapping(("Thing", kind)), schema(found))
    assert (check.ok, check.details) == (True, ())


def test_each_problem_is_one_line_that_says_what_to_fix() -> None:
    config = config_mapping(
        ("Cost Center", "text"),
        ("Level", "number"),
        ("Probation End", "date"),
        ("Remote", "text"),
        ("Languages", "text"),
        ("Buddy", "user"),
        ("Missing", "text"),
        ("Skills", "multi_select"),
    )
    attributes = schema(
        SchemaAttribute("cost center", "string"),  # Lattice matches names case-insensitively
        SchemaAttribute("Level", "string"),
        SchemaAttribute("Probation End", "integer"),
        SchemaAttribute("Remote", "boolean"),
        SchemaAttribute("Languages", "string", multi_valued=True),
        SchemaAttribute("Buddy", "decimal"),
        SchemaAttribute("Skills", "string"),
    )

    check = check_custom_attributes(config, attributes)

    assert not check.ok
    assert check.details == (
        "'Level' is a string attribute in Lattice, which cannot hold custom_attributes[1].type "
        "number — set custom_attributes[1].type: text",
        "'Probation End' is an integer attribute in Lattice, which cannot hold "
        "custom_attributes[2].type date — set custom_attributes[2].type: number",
        "'Remote' is a boolean attribute in Lattice, which cannot hold custom_attributes[3].type "
        "text — map an attribute of another type",
        "'Languages' holds several values in Lattice (string, multi-valued) but "
        "custom_attributes[4] writes one — set custom_attributes[4].type: multi_select, or map "
        "a single-valued attribute instead",
        "'Buddy' is a decimal attribute in Lattice, which cannot hold custom_attributes[5].type "
        "user — set custom_attributes[5].type: number",
        "'Missing' does not exist in Lattice — create it (Admin › Settings › People › Custom "
        "attributes) or fix custom_attributes[].lattice",
        "'Skills' holds one value in Lattice but custom_attributes[7] writes several (type "
        "multi_select) — map a multi-select attribute, or set custom_attributes[7].type: text",
    )
