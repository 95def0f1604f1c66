"""Source adapters: each package reads one HR system behind ``reconciler.ports.Source``."""
