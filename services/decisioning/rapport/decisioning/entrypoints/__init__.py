"""Entrypoints: the gRPC servicer."""
