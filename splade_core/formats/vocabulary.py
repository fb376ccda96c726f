"""Token strings ↔ term ids, as the tokenizer of the model that encoded the vectors numbers them:
what maps the tokens of Anserini's files and CIFF's terms to this project's term ids and back."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import SpladeError


class Vocabulary:
    """Token strings ↔ term ids, as a tokenizer numbers them."""

    def __init__(self, tokens: Sequence[str], name: str = "vocabulary"):
        self.tokens = pd.Index(list(tokens))
        if not self.tokens.is_unique:
            raise ValueError(f"{name}: two term ids share a token string")
        self.name = name

    @classmethod
    def of_model(cls, model: str | os.PathLike) -> Vocabulary:
        """The vocabulary of a model folder's (or HF id's) tokenizer, numbered as its MLM head."""
        from transformers import AutoTokenizer

        from ..registry import resolve_model

        tokenizer = AutoTokenizer.from_pretrained(resolve_model(model))
        ids = tokenizer.get_vocab()
        tokens = [""] * (max(ids.values()) + 1)
        for token, term in ids.items():
            tokens[term] = token
        return cls(tokens, str(model))

    def __len__(self) -> int:
        return len(self.tokens)

    def ids_of(self, tokens: Sequence[str]) -> np.ndarray:
        """Term id of each token, -1 where the vocabulary lacks it."""
        return self.tokens.get_indexer(pd.Index(tokens, dtype=object))

    def check_size(self, vocab_size: int, path: str | os.PathLike) -> None:
        """Stop unless a vector file of `vocab_size` terms is numbered by this vocabulary."""
        if vocab_size != len(self):
            raise SpladeError(f"{path}: {vocab_size} terms, the vocabulary of {self.name} {len(self)}")


def check_vocabulary(used: np.ndarray, vocab: Sequence[str] | None) -> np.ndarray | None:
    """The token string of every term id (an object array), once the term ids in use all have
    one and no two of them share it; None without a vocabulary."""
    if vocab is None:
        return None
    tokens = np.asarray(list(vocab), dtype=object)
    if len(used) and int(used.max()) >= len(tokens):
        raise ValueError(f"vocabulary has {len(tokens)} tokens but term id {int(used.max())} is used")
    if len(set(tokens[used].tolist())) != len(used):
        raise ValueError("two term ids in use map to the same token string")
    return tokens
