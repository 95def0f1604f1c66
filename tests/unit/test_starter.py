"""The starter config `reconcile init` writes: valid as written, custom attributes offered.
Imports the starter renderer, the config loader and yaml; no I/O."""

from __future__ import annotations

import yaml

from reconciler.core.model import AttributeInfo
from reconciler.edges.config import parse_config
from reconciler.edges.starter import render_starter_config

CATALOGUE = (
    AttributeInfo("first_name", "First name", "standard"),
    AttributeInfo("dynamic_2", "Level", "integer"),
    AttributeInfo("dynamic_1", "Cost center", "list"),
    AttributeInfo("dynamic_3", "Probation end", "date"),
)


def test_the_starter_config_validates_as_written_and_maps_no_custom_attribute_yet() -> None:
    text = render_starter_config(
        CATALOGUE, personio_base_url="https://api.personio.de/v1", app_id="acme-sync"
    )

    config = parse_config(text, "starter.yaml")

    assert config.personio.app_id == "acme-sync"
    assert config.custom_attributes == ()
    assert str(config.personio.client_secret) == "env:PERSONIO_CLIENT_SECRET"


def test_custom_attributes_are_offered_commented_out_by_label_with_a_suggested_type() -> None:
    text = render_starter_config(
        CATALOGUE, personio_base_url="https://api.personio.de/v1", app_id="acme-sync"
    )
    offered = [line for line in text.splitlines() if line.startswith("#   ")]

    assert offered == [
        "#   - personio: dynamic_1    # Cost center (Personio type: list)",
        '#     lattice: "Cost center"',
        "#     type: text",
        "#   - personio: dynamic_2    # Level (Personio type: integer)",
        '#     lattice: "Level"',
        "#     type: number",
        "#   - personio: dynamic_3    # Probation end (Personio type: date)",
        '#     lattice: "Probation end"',
        "#     type: date",
    ]
    uncommented = "\n".join(line.removeprefix("# ") for line in offered)
    assert yaml.safe_load("custom_attributes:\n" + uncommented)["custom_attributes"][1] == {
        "personio": "dynamic_2",
        "lattice": "Level",
        "type": "number",
    }


def test_without_custom_attributes_the_starter_says_so() -> None:
    text = render_starter_config(
        CATALOGUE[:1], personio_base_url="https://api.personio.de/v1", app_id="acme-sync"
    )

    assert "custom_attributes: []   # Personio lists no custom attributes" in text.splitlines()
    assert parse_config(text, "starter.yaml").custom_attributes == ()
