"""Configuration documents: nesting is bounded while parsing (a few kilobytes of brackets
held the event loop for seconds when the whole document was scanned first)."""

from __future__ import annotations

import pytest
from rapport.decisioning.adapters.yaml_document import MAX_DEPTH, DocumentError, load


def test_the_deepest_allowed_document_loads() -> None:
    text = "a: " + "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1)
    value = load(text)["a"]
    for _ in range(MAX_DEPTH - 2):
        value = value[0]
    assert value == [1]


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH,
        "a: " + "{b: " * MAX_DEPTH + "}" * MAX_DEPTH,
        "".join(" " * i + "- \n" for i in range(MAX_DEPTH + 1)),
        "a: " + "[" * 500_000,  # never closed: refused at the limit, not at the end
    ],
)
def test_deeper_documents_are_refused(text: str) -> None:
    with pytest.raises(DocumentError, match="nested too deeply"):
        load(text)
