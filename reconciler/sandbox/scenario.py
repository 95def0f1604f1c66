"""The built-in sandbox: both emulators, seeded with the sample company and a Lattice side that
differs from Personio in realistic ways. Imports the emulators, the company generator, the parsers
and the pure mapping (to seed Lattice with what an earlier sync would have written).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from reconciler.core.mapping import compute_desired_users, resolve_sources
from reconciler.core.model import (
    Action,
    Change,
    Config,
    CustomAttribute,
    DesiredUser,
    Employee,
    FieldChange,
    LatticeSettings,
    PersonioSettings,
    SecretRef,
    SyncSettings,
)
from reconciler.edges.connections import Connections
from reconciler.edges.http import NO_WAIT_RETRY
from reconciler.errors import ReconcilerError
from reconciler.sandbox.company import TENANTS, SampleCompany, as_tenant, generate_company
from reconciler.sandbox.lattice_emulator import LatticeEmulator
from reconciler.sandbox.personio_emulator import PersonioCredential, PersonioEmulator
from reconciler.sources.personio.parse import parse_attribute_catalogue, parse_employee
from reconciler.sources.personio.profile import PERSONIO, default_fields
from reconciler.targets.lattice.profile import LATTICE, LATTICE_SCIM
from reconciler.targets.scim.resources import ENTERPRISE_URN, build_create_body

PERSONIO_CLIENT_ID = "sandbox-client"
PERSONIO_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - the emulator's own, not a secret
LATTICE_TOKEN = "sandbox-token"  # noqa: S105

#: The Lattice custom attributes that exist in the sandbox tenant (display name → type);
#: the example config maps exactly these.
LATTICE_CUSTOM_ATTRIBUTES: Mapping[str, str] = {
    "Cost Center": "text",
    "Shirt Size": "text",
    "Level": "number",
    "Probation End": "date",
    "Buddy": "user",
    "Skills": "multi_select",
    "Salary Band": "text",
}

#: The mapping an earlier sync used to fill the sandbox's Lattice side (the example config's).
SEED_CONFIG = Config(
    personio=PersonioSettings(
        base_url="http://personio.sandbox/v1",
        client_id=SecretRef("PERSONIO_CLIENT_ID"),
        client_secret=SecretRef("PERSONIO_CLIENT_SECRET"),
        app_id="SANDBOX",
    ),
    lattice=LatticeSettings(base_url="http://lattice.sandbox/scim/v2", token=SecretRef("T")),
    fields=default_fields(),
    sync=SyncSettings(protected=frozenset({"it-admin@example.com"})),
    custom_attributes=(
        CustomAttribute("Cost center", "Cost Center", "text"),
        CustomAttribute("T-shirt size", "Shirt Size", "text"),
        CustomAttribute("dynamic_3456789", "Level", "number"),
        CustomAttribute("Probation end", "Probation End", "date"),
        CustomAttribute("Buddy", "Buddy", "user"),
        CustomAttribute("Skills", "Skills", "multi_select"),
        CustomAttribute("Salary band", "Salary Band", "text", sensitive=True),
    ),
)


@dataclass
class Sandbox:
    """Both emulators plus the addresses and sandbox credentials that reach them."""

    company: SampleCompany
    personio: PersonioEmulator
    lattice: LatticeEmulator
    personio_base_url: str = "http://personio.sandbox/v1"
    lattice_base_url: str = "http://lattice.sandbox/scim/v2"
    personio_client_id: str = PERSONIO_CLIENT_ID
    personio_client_secret: str = PERSONIO_CLIENT_SECRET
    lattice_token: str = LATTICE_TOKEN

    def personio_transport(self) -> httpx.BaseTransport:
        return self.personio.transport()

    def lattice_transport(self) -> httpx.BaseTransport:
        return self.lattice.transport()

    def connections(self) -> Connections:
        """In-process connections to both emulators: no network, no rate limit, no waiting.

        Not subject to the endpoint allow-list (``reconciler.endpoints``): these connections
        are built here, by trusted code, from in-process transports, so no request and no
        credential can leave the process whatever the config says (docs/security.md).
        """
        return Connections(
            personio_base_url=self.personio_base_url,
            personio_client_id=self.personio_client_id,
            personio_client_secret=self.personio_client_secret,
            lattice_base_url=self.lattice_base_url,
            lattice_token=self.lattice_token,
            personio_transport=self.personio_transport(),
            lattice_transport=self.lattice_transport(),
            retry=NO_WAIT_RETRY,
            personio_rate=0.0,
            lattice_rate=0.0,
        )


#: Chooses the Personio tenant the sandbox imitates: ``en`` (default) or ``de`` (German labels);
#: both keep the birth date as a custom attribute; see ``company.as_tenant``.
TENANT_ENV = "RECONCILE_SANDBOX_TENANT"


def build_sandbox(
    employees: int = 60,
    seed: int = 7,
    *,
    drift: bool = True,
    strict: bool = False,
    tenant: str | None = None,
) -> Sandbox:
    """The sample company in Personio and, in Lattice, what an earlier sync left there.

    With ``drift`` the Lattice side differs the way real tenants do, so the first plan shows
    every kind of change: people not yet created, an unlinked user to adopt, a rehire to
    reactivate, a leaver to deactivate, edited titles and departments, a preferred-name edit,
    an admin account and a protected account that are not in Personio. ``strict`` serves
    Lattice in the emulator's strict mode (``LatticeEmulator(strict=True)``).
    """
    # An empty variable (`RECONCILE_SANDBOX_TENANT=` to unset it in a script) means the default.
    chosen = tenant if tenant is not None else (os.environ.get(TENANT_ENV) or "en")
    if chosen not in TENANTS:
        raise ReconcilerError(
            f"unknown sandbox tenant {chosen!r}",
            where=TENANT_ENV,
            fix=f"use one of {', '.join(TENANTS)}, or unset the variable",
        )
    company = as_tenant(generate_company(employees, seed), chosen)
    personio = PersonioEmulator(
        company.employees,
        company.attributes,
        credentials={PERSONIO_CLIENT_ID: PersonioCredential(client_secret=PERSONIO_CLIENT_SECRET)},
    )
    lattice = LatticeEmulator(
        token=LATTICE_TOKEN, custom_attributes=LATTICE_CUSTOM_ATTRIBUTES, strict=strict
    )
    seed_lattice(lattice, company, drift=drift)
    return Sandbox(company=company, personio=personio, lattice=lattice)


def seed_lattice(lattice: LatticeEmulator, company: SampleCompany, *, drift: bool) -> None:
    """Store in ``lattice`` the users a previous sync of ``company`` would have written."""
    catalogue = parse_attribute_catalogue({"success": True, "data": list(company.attributes)})
    config = resolve_sources(SEED_CONFIG, catalogue, PERSONIO)
    parsed = [parse_employee(raw) for raw in company.employees]
    employees = [item for item in parsed if isinstance(item, Employee)]
    everyone = dataclasses.replace(
        config,
        sync=dataclasses.replace(
            config.sync, statuses=("active", "onboarding", "leave", "inactive")
        ),
    )
    desired = {
        user.source_id: user
        for user in compute_desired_users(
            employees, everyone, source=PERSONIO, target=LATTICE
        ).desired
    }
    in_scope = {
        user.source_id
        for user in compute_desired_users(
            employees, config, source=PERSONIO, target=LATTICE
        ).desired
    }
    ordered = sorted(desired.values(), key=lambda user: int(user.source_id))

    skip_create: set[str] = set()
    edits: dict[str, dict[str, object]] = {}
    inactive: set[str] = set(desired) - in_scope
    unlinked: set[str] = set()
    if drift:
        special = {pid for pid, note in company.notes.items() if "duplicate" not in note}
        ordinary = in_scope - special  # once: inside the comprehension it was quadratic
        plain = [u.source_id for u in ordered if u.source_id in ordinary]
        # Onboarding starters and the two newest hires were never synced: creates.
        skip_create |= {pid for pid, note in company.notes.items() if "onboarding" in note}
        skip_create |= set(plain[-2:])
        # Edited by hand in Lattice since the last sync: updates.
        if len(plain) > 6:
            edits[plain[3]] = {"title": "Team Lead (acting)"}
            edits[plain[4]] = {"department": "Special Projects"}
            edits[plain[5]] = {"custom:Cost Center": "CC-999"}
            edits[plain[6]] = {"preferred_name": "Nick"}  # create-only: a warning, not an update
        if len(plain) > 7:
            unlinked.add(plain[7])  # added by hand before the integration existed: a link
        # The rehire was deactivated when they left: a reactivation.
        inactive |= {pid for pid, note in company.notes.items() if "rehire" in note}
        # A leaver whose deactivation did not happen yet: a deactivation.
        inactive -= {pid for pid, note in company.notes.items() if note == "leaver"}

    scim_ids: dict[str, str] = {}
    for user in ordered:
        if user.source_id in skip_create:
            continue
        resource = _resource(user, edits.get(user.source_id, {}))
        resource["active"] = user.source_id not in inactive
        if user.source_id in unlinked:
            resource.pop("externalId", None)
            resource["userName"] = str(resource["userName"]).upper()
        scim_ids[user.source_id] = lattice.seed_user(resource)
    # Managers point at SCIM ids, known only once everyone is stored. Without drift the
    # Lattice side is exactly what a sync leaves: no manager who has left (the planner clears
    # those); with drift, one such stale manager is part of the showcase.
    for user in ordered:
        manager = user.fields.get("manager")
        target_id = scim_ids.get(user.source_id)
        stale = manager not in in_scope and not drift
        if target_id and isinstance(manager, str) and manager in scim_ids and not stale:
            enterprise = lattice.users[target_id].setdefault(ENTERPRISE_URN, {})
            assert isinstance(enterprise, dict)
            enterprise["manager"] = {"value": scim_ids[manager]}
    for email, given, family in (
        ("it-admin@example.com", "IT", "Admin"),  # protected: never touched
        ("facilities-bot@example.com", "Facilities", "Bot"),  # unmanaged: ignored
    ):
        lattice.seed_user(
            {
                "userName": email,
                "name": {"givenName": given, "familyName": family},
                "emails": [{"value": email, "primary": True, "type": "work"}],
                "active": True,
            }
        )


def _resource(user: DesiredUser, edits: Mapping[str, object]) -> dict[str, object]:
    """The SCIM resource a create of ``user`` writes, with ``edits`` applied over its fields."""
    values = {**user.fields, **edits}
    fields = tuple(
        FieldChange(name, None, value)  # type: ignore[arg-type]
        for name, value in sorted(values.items())
        if value is not None and name != "manager"
    )
    change = Change(
        action=Action.CREATE,
        source_id=user.source_id,
        target_id=None,
        email=user.email,
        fields=(FieldChange("email", None, user.email), *fields),
    )
    return build_create_body(change, None, LATTICE_SCIM)
