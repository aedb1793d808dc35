"""Probabilistic record matching (Fellegi-Sunter), pure: numpy and rapidfuzz, no I/O.

model = MatchModel.train(records)             # m, u and the prior by EM, no labels
links = model.deduplicate(records, min_probability=0.9)
MatchModel.from_dict(model.to_dict())         # JSON-safe, scores identically
"""

from .model import MatchExplanation, MatchModel
from .records import ATTRIBUTES, PersonRecord

__all__ = ["ATTRIBUTES", "MatchExplanation", "MatchModel", "PersonRecord"]
