"""Service layer: commands, handlers, unit of work and the trigger runner."""
