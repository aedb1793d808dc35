"""Entrypoints: the gRPC servicer and its protobuf converters."""
