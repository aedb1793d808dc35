"""Service layer: commands, one handler module per group of use cases, Dependencies, the unit
of work and the trigger runner."""
