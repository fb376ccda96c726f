"""Teacher scores for mined examples, a block of queries at a time on the mining device:
"self" (the SPLADE model's own q·d, SPLADE++ self-distillation; Formal et al., SIGIR 2022) or a
cross-encoder (any HF sequence-classification model; with several labels, the last label's logit
minus the first's), its (query, document) pairs length-sorted into batches that pad to almost
nothing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from ..data.examples import TrainingExample
from ..errors import SpladeError
from ..model.precision import autocast
from .config import MineConfig


def make_teacher(config: MineConfig, splade, corpus):
    if config.teacher == "self":
        return SelfTeacher(splade, corpus, config)
    return CrossEncoderTeacher(config.teacher, corpus, config)


class _Teacher:
    def __init__(self, corpus, config: MineConfig):
        self.corpus, self.config = corpus, config

    @property
    def needs_texts(self) -> bool:
        """Whether scoring reads the documents' texts (not only their vectors)."""
        return True

    def score(self, block: list[TrainingExample], queries: Sequence[str]) -> list[TrainingExample]:
        """`block` with a score for every positive and negative of each example."""
        ids = [(*e.positives, *e.negatives) for e in block]
        flat = [doc_id for example_ids in ids for doc_id in example_ids]
        rows = self.corpus.rows_of(flat)
        if (rows < 0).any():
            absent = flat[int(np.flatnonzero(rows < 0)[0])]
            raise SpladeError(
                f"{self.config.train_data}: judged document {absent!r} is not in the collection, "
                "so no teacher can score it"
            )
        owners = np.repeat(np.arange(len(block)), [len(example_ids) for example_ids in ids])
        values = self.score_rows(queries, owners, rows)
        scored, at = [], 0
        for example, example_ids in zip(block, ids):
            scores = {doc_id: round(float(v), 6) for doc_id, v in zip(example_ids, values[at : at + len(example_ids)])}
            scored.append(TrainingExample(example.query_id, example.positives, example.negatives, scores))
            at += len(example_ids)
        return scored

    def score_rows(self, queries: Sequence[str], owners: np.ndarray, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class SelfTeacher(_Teacher):
    """The starting SPLADE model's dot product q·d as teacher score."""

    def __init__(self, splade, corpus, config: MineConfig):
        super().__init__(corpus, config)
        self.splade = splade

    @property
    def needs_texts(self) -> bool:
        return self.corpus.vectors is None

    def score_rows(self, queries, owners, rows):
        from ..encode import encode_sparse

        config = self.config
        distinct, position = np.unique(rows, return_inverse=True)
        if self.corpus.vectors is not None:
            docs = self.corpus.vectors[distinct]
        else:
            texts = self.corpus.texts(distinct)
            docs = encode_sparse(self.splade, "doc", texts, config.batch_size, config.precision)
        query_vectors = encode_sparse(self.splade, "query", list(queries), config.batch_size, config.precision)
        pairs = sp.csr_array(query_vectors[owners]).multiply(sp.csr_array(docs[position]))
        return np.asarray(pairs.sum(axis=1), dtype=np.float64).reshape(-1)


class CrossEncoderTeacher(_Teacher):
    """A cross-encoder scoring (query, document) pairs; loaded on first use."""

    def __init__(self, name_or_path: str, corpus=None, config: MineConfig | None = None):
        super().__init__(corpus, config or MineConfig(train_data="-", teacher=name_or_path))
        self.name_or_path = name_or_path
        self._model = None
        self._tokenizer = None

    def load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.name_or_path)
            model = AutoModelForSequenceClassification.from_pretrained(self.name_or_path, use_safetensors=True)
        except Exception as exc:  # missing files, bad configs, weights torch or safetensors refuse
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SpladeError(
                f"cannot load teacher cross-encoder {self.name_or_path!r} (an HF id needs network access "
                f"or a local copy; use teacher 'self' offline): {first_line}"
            ) from None
        self._model = model.eval().to(self.config.device)

    def score_rows(self, queries, owners, rows):
        distinct, position = np.unique(rows, return_inverse=True)
        texts = self.corpus.texts(distinct)
        return self.score_pairs([queries[i] for i in owners], [texts[i] for i in position])

    @torch.inference_mode()
    def score_pairs(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        """Scores of (queries[i], docs[i]), batched by length on the mining device."""
        self.load()
        config, tokenizer, model = self.config, self._tokenizer, self._model
        features = tokenizer(list(queries), list(docs), truncation=True, max_length=config.teacher_max_length)
        lengths = np.fromiter(map(len, features["input_ids"]), dtype=np.int64, count=len(queries))
        order = np.argsort(-lengths, kind="stable")
        out = np.empty(len(queries), dtype=np.float64)
        device = next(model.parameters()).device
        batches = range(0, len(order), config.batch_size)
        for start in tqdm(batches, desc="teacher", disable=not config.progress, mininterval=5):
            batch = order[start : start + config.batch_size]
            padded = tokenizer.pad({key: [values[i] for i in batch] for key, values in features.items()},
                                   return_tensors="pt")  # fmt: skip
            with autocast(device, config.precision):
                logits = model(**{key: value.to(device) for key, value in padded.items()}).logits.float()
            values = logits[:, 0] if logits.shape[1] == 1 else logits[:, -1] - logits[:, 0]
            out[batch] = values.cpu().numpy()
        return out
