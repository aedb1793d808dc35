"""Use cases: commands, handlers, unit of work."""
