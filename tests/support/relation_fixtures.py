"""Fixtures of the relation tests (tests/relations, tests/pipelines/relation_mining): a 6-category
vocabulary with hand-checkable features and labels.

Seen: sneaker (0), coat (1), t-shirt (2), ankle boot (3); unseen: sandal (4), shirt (5). The 2-D text
features make cosines easy to verify by hand; the labels make co-occurrence probabilities thirds and halves.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# The test HTTP server lives with the LLM tests; --import-mode=importlib puts no test folder on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "llm"))

from ovmlr.llm.backend import ChatRequest, ChatResponse  # noqa: E402

NAMES = ["sneaker", "coat", "t-shirt", "ankle boot", "sandal", "shirt"]
ROLES = ["seen", "seen", "seen", "seen", "unseen", "unseen"]
FEATURES = [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, 0.6], [1.0, 0.1], [0.1, 1.0]]
TARGET = re.compile(r"new category \*\*(.+?)\*\*")


def prompt_target(messages) -> str:
    """The category a relation prompt asks about."""
    return TARGET.search(messages[0]["content"]).group(1)


@pytest.fixture
def category_split() -> pd.DataFrame:
    return pd.DataFrame({"category_id": range(6), "name": NAMES, "role": ROLES})


@pytest.fixture
def text_features() -> pd.DataFrame:
    ensemble = pd.DataFrame(
        {
            "category_id": range(6),
            "name": NAMES,
            "template": "__ensemble__",
            "embedding": [np.asarray(f, dtype=np.float32) for f in FEATURES],
        }
    )
    other = ensemble.assign(template="a photo of a {}.", embedding=[np.zeros(2, np.float32)] * 6)
    return pd.concat([other, ensemble], ignore_index=True)


@pytest.fixture
def train_labels() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": ["i0", "i1", "i2", "i3", "i4"],
            "sneaker": np.array([1, 1, 1, 0, 0], np.int8),
            "coat": np.array([0, 0, 0, 1, 1], np.int8),
            "t-shirt": np.array([0, 0, 1, 1, -1], np.int8),
            "ankle boot": np.array([1, 1, 0, 0, 0], np.int8),
        }
    )


class ScriptedBackend:
    """A chat backend answering from ``answers[target][query seed]``; records calls; may fail on a call."""

    def __init__(
        self, answers: dict[str, list[str]], model_id: str = "scripted", fail_on_call: int | None = None
    ):
        self.answers, self.model_id, self.fail_on_call = answers, model_id, fail_on_call
        self.max_concurrency = 1
        self.calls: list[tuple[str, int]] = []

    def complete(self, request: ChatRequest) -> ChatResponse:
        from ovmlr.llm.backend import LLMBackendError

        self.calls.append((prompt_target(request.messages), request.seed))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise LLMBackendError("endpoint down")
        text = self.answers.get(prompt_target(request.messages), ["{}"] * 10)[request.seed]
        return ChatResponse(text, "stop", 100, 20, 0.01)


@pytest.fixture(name="prompt_target")
def prompt_target_fixture():
    return prompt_target


@pytest.fixture
def scripted_backend_class() -> type[ScriptedBackend]:
    return ScriptedBackend
