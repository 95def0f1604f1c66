"""The edges of the process: HTTP plumbing (one retry loop, deadlines), connections, GitHub."""
