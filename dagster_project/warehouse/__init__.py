"""The work database and the published warehouse."""
