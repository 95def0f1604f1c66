"""The starter config `reconcile init` writes: valid as written, custom attributes offered.
Imports the starter renderer, the config loader and yaml; no I/O."""

from __future__ import annotations

import dataclasses

import yaml

from reconciler.config import parse_config
from reconciler.core.model import AttributeInfo, SafetySettings, SyncSettings, Threshold
from reconciler.starter import render_starter_config

CATALOGUE = (
    AttributeInfo("first_name", "First name", "standard"),
    AttributeInfo("dynamic_2", "Level", "integer"),
    AttributeInfo("dynamic_1", "Cost center", "list"),
    AttributeInfo("dynamic_3", "Probation end", "date"),
    AttributeInfo("dynamic_4", "Skills", "tags"),
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
        "#   - personio: dynamic_4    # Skills (Personio type: tags)",
        '#     lattice: "Skills"',
        "#     type: multi_select",
    ]
    uncommented = "\n".join(line.removeprefix("# ") for line in offered)
    # Uncommented as offered, every suggestion is a valid config (multi_select included).
    mapped = parse_config(
        text.replace("custom_attributes: []", "custom_attributes:\n" + uncommented), "s.yaml"
    ).custom_attributes
    assert [attr.type for attr in mapped] == ["text", "number", "date", "multi_select"]
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


def starter_text(catalogue: tuple[AttributeInfo, ...] = CATALOGUE) -> str:
    return render_starter_config(
        catalogue, personio_base_url="https://api.personio.de/v1", app_id="acme-sync"
    )


def test_the_starter_safety_and_sync_sections_are_the_model_defaults() -> None:
    config = parse_config(starter_text(), "starter.yaml")

    assert config.safety == SafetySettings()
    assert config.sync == SyncSettings()


def test_the_starter_writes_every_safety_setting_explicitly_in_field_order() -> None:
    safety = yaml.safe_load(starter_text())["safety"]

    # Written, not left to the defaults: the operator sees every limit they run under.
    assert list(safety) == [setting.name for setting in dataclasses.fields(SafetySettings)]
    assert safety["max_creates"] == {"count": 50, "percent": 25}
    assert safety["max_errors"] == {"percent": 10}


def test_every_safety_line_of_the_starter_fits_the_line_length() -> None:
    text = starter_text()
    section = text[text.index("\nsafety:\n") :].splitlines()[1:]

    assert section
    assert all(len(line) <= 100 for line in section), section


THREE = Threshold(count=3)
NO_LIMIT = Threshold()


@dataclasses.dataclass(frozen=True, slots=True)
class WithToyLimits(SafetySettings):
    """A settings class as it would be with two more rules: the starter needs no edit for them."""

    max_renames: Threshold = THREE
    max_toys: Threshold = NO_LIMIT


def test_a_new_safety_setting_appears_in_the_starter_with_its_default() -> None:
    text = render_starter_config(
        CATALOGUE,
        personio_base_url="https://api.personio.de/v1",
        app_id="acme-sync",
        safety=WithToyLimits(max_updates=Threshold(count=7, percent=12.5)),
    )
    section = text[text.index("\nsafety:\n") :].splitlines()

    assert "  max_renames: {count: 3}" in section
    assert "  # max_toys: no limit by default" in section  # the schema has no way to write one
    assert yaml.safe_load(text)["safety"]["max_updates"] == {"count": 7, "percent": 12.5}
