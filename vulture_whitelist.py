"""Names vulture (the dead-code check in .ci/run) reports but that are used: true false positives.
Not imported by anything; vulture reads it as if it were code that uses these names.

Only protocol-required names belong here. Anything else vulture reports is dead: delete it.
"""

# Context-manager protocol: __exit__ must accept (exc_type, exc, tb) even when it ignores them.
exc_type  # unused variable (reconciler/edges/http.py, reconciler/sandbox/transport.py)
tb  # unused variable (reconciler/edges/http.py, reconciler/sandbox/transport.py)
