"""What the model use cases are asked to do, already decoded from protobuf."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .commands import FieldMask

# -- models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFields:
    """A model as the client gave it (kind and mode may be unknown enum numbers)."""

    kind: Any = None
    mode: Any = None
    display_name: str = ""
    description: str = ""
    features: tuple[str, ...] = ()
    dimensions: int = 0
    exploration: float | None = None
    prior_precision: float = 0.0
    reward_outcome: Any = None
    onnx_model: bytes = b""


@dataclass(frozen=True)
class CreateModel:
    parent: str
    model_id: str
    model: ModelFields


@dataclass(frozen=True)
class GetModel:
    name: str


@dataclass(frozen=True)
class ListModels:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class UpdateModel:
    name: str
    model: ModelFields
    mask: FieldMask = field(default_factory=FieldMask)


@dataclass(frozen=True)
class DeleteModel:
    name: str


@dataclass(frozen=True)
class SimulateDecisions:
    parent: str
    config_version: str = ""
    customers: tuple[str, ...] = ()
    segment: str = ""
    sample_size: int = 0
    context: Mapping[str, Any] = field(default_factory=dict)
    channel: Any = None
    max_actions: int = 0
    placement: str = ""
    device: str = ""


@dataclass(frozen=True)
class EvaluatePolicy:
    parent: str
    model: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    reward_outcome: Any = None
    max_decisions: int = 0
