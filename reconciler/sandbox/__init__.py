"""The built-in sandbox: stateful Personio and Lattice emulators and a seeded sample company.
Emulators speak the real wire formats over real HTTP or in-process, behind the same clients.
"""
