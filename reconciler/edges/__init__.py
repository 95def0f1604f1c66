"""The edges of the process: config loading, HTTP plumbing, the GitHub comment, starter config."""
