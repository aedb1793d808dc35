"""Entry points: the gRPC servicer."""
