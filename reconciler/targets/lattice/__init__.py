"""Lattice as a SCIM target: its profile (extension schema, create-only fields, choice limits)."""
