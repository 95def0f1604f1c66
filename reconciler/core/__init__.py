"""The pure core: vendor-neutral model, profiles, mapping, planning, the plan document and safety.
Imports only the standard library and ``reconciler.errors`` (an import contract checks it).
"""
