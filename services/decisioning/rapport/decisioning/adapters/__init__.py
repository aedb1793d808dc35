"""Adapters: storage, the catalogue file and clients of the services decisioning calls."""
