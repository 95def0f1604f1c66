"""Personio API v1 as a source: authentication, the HTTP client, pure parsing and its profile."""
