"""Models trained elsewhere, loaded from ONNX and run with onnxruntime (CPU, one thread).

A model is checked when saved and when loaded: it must parse and pass the ONNX checker,
hold every tensor inline (no external data: loading must never read a file), have
one float input of shape [N, columns] and answer, for N rows, a tensor of shape [N],
[N, 1] or [N, 2] (a classifier's probabilities: the last column is the propensity).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError
from rapport.decisioning.domain.onnx_scoring import ModelScoringError

_FLOAT = "tensor(float)"


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for sub in attribute.graphs:
                yield from _tensors(sub)


def _parse(data: bytes) -> onnx.ModelProto:
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as err:
        raise ModelScoringError(f"is not an ONNX model ({type(err).__name__})") from err
    if any(tensor.data_location == onnx.TensorProto.EXTERNAL for tensor in _tensors(model.graph)):
        raise ModelScoringError("must hold its tensors inline (external data is refused)")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "invalid"
        raise ModelScoringError(f"fails the ONNX checker: {first[:300]}") from err
    return model


class OnnxPredictor:
    """One loaded model: predict(rows) -> one propensity per row."""

    def __init__(self, data: bytes, columns: int) -> None:
        _parse(data)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own exception types
            raise ModelScoringError(f"cannot be loaded by onnxruntime: {_first_line(err)}") from err
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelScoringError("must have exactly one input")
        shape = inputs[0].shape
        if inputs[0].type != _FLOAT or len(shape) != 2:
            raise ModelScoringError("its input must be a float tensor of shape [N, columns]")
        if isinstance(shape[1], int) and shape[1] != columns:
            raise ModelScoringError(
                f"its input has {shape[1]} columns where {columns} features are declared"
            )
        self._input = inputs[0].name
        self._output = self._session.get_outputs()[0].name
        self.predict(np.zeros((2, columns), dtype=np.float32))

    def predict(self, rows: np.ndarray) -> np.ndarray:
        try:
            answer = self._session.run([self._output], {self._input: rows})[0]
        except Exception as err:
            raise ModelScoringError(f"failed at run time: {_first_line(err)}") from err
        try:
            values = np.asarray(answer, dtype=float)
        except (TypeError, ValueError) as err:
            raise ModelScoringError("its first output must be a numeric tensor") from err
        count = rows.shape[0]
        if values.shape == (count,):
            return values
        if values.ndim == 2 and values.shape[0] == count and values.shape[1] in (1, 2):
            return values[:, -1]
        raise ModelScoringError(
            f"its first output has shape {list(values.shape)}; [N], [N, 1] or [N, 2] expected"
        )


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:300]
