"""Interceptors build their wrapped handler once per method, not on every call."""

from __future__ import annotations

import grpc
from rapport.grpcserver._wrapping import WrappedPerMethod


async def _behaviour(request: object, context: object) -> object:
    return request


def _handler() -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(_behaviour)


def test_built_once_per_method_and_rebuilt_for_another_inner_handler() -> None:
    built: list[str] = []

    def wrap(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        built.append(method)
        return grpc.unary_unary_rpc_method_handler(handler.unary_unary)

    wrapped = WrappedPerMethod(wrap)
    inner = _handler()
    first = wrapped.get(inner, "/s/A")
    assert wrapped.get(inner, "/s/A") is first
    assert built == ["/s/A"]

    other = wrapped.get(inner, "/s/B")
    assert other is not first
    assert built == ["/s/A", "/s/B"]

    # An inner interceptor that wrapped anew (e.g. per token) gets its own wrapping.
    replaced = _handler()
    assert wrapped.get(replaced, "/s/A") is not first
    assert built == ["/s/A", "/s/B", "/s/A"]


def test_unknown_method_is_not_remembered() -> None:
    wrapped = WrappedPerMethod(lambda handler, method: handler)
    assert wrapped.get(None, "/s/Missing") is None
    assert wrapped._built == {}
