"""Sentence embeddings computed on this machine: wordllama's 256-dimension model, no network.

The model ships inside the wheel; its loader looks in the wrong folder and then tries to
download, so it is pointed at the package folder with downloads disabled. It is loaded once per
process, on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

DIMENSIONS = 256
_model: Any = None
_lock = threading.Lock()


def model() -> Any:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                import wordllama
                from wordllama import WordLlama

                _model = WordLlama.load(
                    cache_dir=os.path.dirname(wordllama.__file__),
                    dim=DIMENSIONS,
                    disable_download=True,
                )
    return _model


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length float32 rows, one per text (a zero row for an empty text)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = np.asarray(model().embed(list(texts), norm=False), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32)


def embed_one(text: str) -> np.ndarray:
    return embed([text])[0]
