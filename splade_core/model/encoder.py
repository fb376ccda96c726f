"""SPLADE encoders: a masked-LM and its tokenizer turning texts into vocabulary-sized vectors
(pooling in `splade_core.model.pooling`), and `Splade`, the document and query sides of a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForMaskedLM, AutoTokenizer, PreTrainedTokenizerBase

from ..errors import SpladeError
from ..registry import BUNDLED_MODELS, INFERENCE_FREE_KEY, POOLINGS, resolve_model  # noqa: F401  (re-exported)
from .pooling import VocabularyProjection, hidden_states, splade_pool
from .precision import autocast

SPLADE_CONFIG = "splade_config.json"
QUERY_ENCODER_DIR = "query_encoder"


class SpladeEncoder(nn.Module):
    """One masked-LM model and its tokenizer, turning texts into vocabulary-sized vectors."""

    def __init__(self, mlm: nn.Module, tokenizer: PreTrainedTokenizerBase, pooling: str = "max", max_length: int = 256):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
        if max_length < 2:
            raise ValueError(f"max_length must be at least 2 (got {max_length})")
        self.mlm = mlm
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, pooling: str = "max", max_length: int = 256
    ) -> SpladeEncoder:
        """Load an HF masked-LM checkpoint: a local directory or a hub id (safetensors only)."""
        source = str(name_or_path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            mlm = AutoModelForMaskedLM.from_pretrained(source, use_safetensors=True)
        except Exception as exc:  # missing files, bad configs, weights torch or safetensors refuse
            kind = "model directory" if Path(source).exists() else "model path or Hugging Face id"
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SpladeError(f"cannot load {kind} {source!r}: {first_line}") from None
        mlm.eval()
        return cls(mlm, tokenizer, pooling=pooling, max_length=max_length)

    @property
    def vocab_size(self) -> int:
        return self.mlm.get_output_embeddings().weight.shape[0]

    @property
    def device(self) -> torch.device:
        return self.mlm.get_output_embeddings().weight.device

    def tokenize(self, texts: list[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        return self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=max_length or self.max_length,
            return_tensors="pt",
        ).to(self.device)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **inputs) -> torch.Tensor:
        """Differentiable dense vectors [batch, vocab] (materialises the full logits)."""
        logits = self.mlm(input_ids=input_ids, attention_mask=attention_mask, **inputs).logits
        return splade_pool(logits, attention_mask, self.pooling)

    def projection(self, precision: str = "fp32") -> VocabularyProjection:
        """The vocabulary projection prepared for inference at `precision` (make it once per
        stretch of batches: it casts the weights)."""
        return VocabularyProjection.of(self.mlm, precision)

    @torch.inference_mode()
    def encode_dense(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        precision: str = "fp32",
        projection: VocabularyProjection | None = None,
        path: str | None = None,
    ) -> torch.Tensor:
        """Inference-only vectors [batch, vocab] (float32), equal to `forward` up to float
        rounding, without the full logits: the transformer under `precision` autocast, then
        `projection` (default: `self.projection(precision)`) by its fastest `path` for the device."""
        with autocast(input_ids.device, precision):
            hidden = hidden_states(self.mlm, input_ids, attention_mask)
        projection = projection or self.projection(precision)
        return projection.pool(hidden, attention_mask, self.pooling, path)

    def encode_texts(self, texts: list[str], max_length: int | None = None, precision: str = "fp32") -> torch.Tensor:
        inputs = self.tokenize(texts, max_length)
        return self.encode_dense(inputs["input_ids"], inputs["attention_mask"], precision)

    def decode(self, vector: torch.Tensor, top: int | None = None) -> list[tuple[str, float]]:
        """The (token, weight) pairs of a vector, heaviest first."""
        vector = torch.as_tensor(vector).detach().float().cpu().reshape(-1)
        nonzero = torch.nonzero(vector > 0).reshape(-1)
        order = nonzero[torch.argsort(vector[nonzero], descending=True, stable=True)]
        if top is not None:
            order = order[:top]
        tokens = self.tokenizer.convert_ids_to_tokens(order.tolist())
        return [(token, float(vector[i])) for token, i in zip(tokens, order.tolist())]

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        self.mlm.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)


def _read_splade_config(path: Path) -> dict:
    """A model's splade_config.json ({} if it has none); SpladeError naming it if malformed."""
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpladeError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(saved, dict):
        raise SpladeError(f"{path}: must be a JSON object of settings, not a {type(saved).__name__}")
    return saved


def bag_of_tokens(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, vocab_size: int, special_ids: torch.Tensor
) -> torch.Tensor:
    """Binary query vectors: 1.0 at each token id of the text, special tokens excluded."""
    keep = attention_mask.bool() & ~torch.isin(input_ids, special_ids.to(input_ids.device))
    vectors = torch.zeros(input_ids.shape[0], vocab_size, dtype=torch.float32, device=input_ids.device)
    rows = torch.arange(input_ids.shape[0], device=input_ids.device).unsqueeze(1).expand_as(input_ids)
    vectors[rows[keep], input_ids[keep]] = 1.0
    return vectors


class BagOfTokensEncoder(nn.Module):
    """The inference-free query side (SPLADE-doc, Formal et al. 2021; Geng et al., "Towards
    Competitive Search Relevance For Inference-Free Learned Sparse Retrievers", 2024): a query
    is 1.0 at each distinct non-special token id of its tokenization, and no model runs."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int, max_length: int = 64):
        super().__init__()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.vocab_size = vocab_size
        special = torch.tensor(sorted(tokenizer.all_special_ids), dtype=torch.long)
        self.register_buffer("special_ids", special, persistent=False)

    @property
    def device(self) -> torch.device:
        return self.special_ids.device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **inputs) -> torch.Tensor:
        return bag_of_tokens(input_ids, attention_mask, self.vocab_size, self.special_ids)

    def projection(self, precision: str = "fp32") -> None:
        return None  # no model runs

    def encode_dense(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *settings, **named) -> torch.Tensor:
        """The bag of tokens; precision and projection settings do not apply (no model runs)."""
        return self(input_ids, attention_mask)


class Splade(nn.Module):
    """A document encoder and a query encoder: shared (one model), separate, or inference-free
    (a bag of the query's tokens)."""

    def __init__(
        self,
        doc_encoder: SpladeEncoder,
        query_encoder: SpladeEncoder | None = None,
        inference_free_query: bool = False,
    ):
        super().__init__()
        if inference_free_query and query_encoder is not None:
            raise SpladeError("an inference-free query side has no query encoder")
        self.doc_encoder = doc_encoder
        self.separate = query_encoder is not None
        self.inference_free_query = inference_free_query
        self.query_encoder = query_encoder if query_encoder is not None else doc_encoder
        self._bag = BagOfTokensEncoder(doc_encoder.tokenizer, doc_encoder.vocab_size) if inference_free_query else None
        if self.query_encoder.vocab_size != doc_encoder.vocab_size:
            raise SpladeError(
                f"query encoder vocabulary ({self.query_encoder.vocab_size}) differs from "
                f"the document encoder's ({doc_encoder.vocab_size})"
            )

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        pooling: str | None = None,
        doc_max_length: int | None = None,
        query_max_length: int | None = None,
    ) -> Splade:
        """Load a model saved by `save_pretrained`, or any HF masked-LM as a shared encoder.

        Settings not given come from the directory's `splade_config.json` (which also says
        whether queries are inference-free), else defaults (max pooling, 256 document tokens,
        64 query tokens).
        """
        path = Path(name_or_path)
        saved = _read_splade_config(path / SPLADE_CONFIG)
        inference_free = saved.get(INFERENCE_FREE_KEY, False)
        if not isinstance(inference_free, bool):
            raise SpladeError(f"{path / SPLADE_CONFIG}: {INFERENCE_FREE_KEY} must be true or false")
        pooling = pooling or saved.get("pooling", "max")
        doc_max_length = doc_max_length or saved.get("doc_max_length", 256)
        query_max_length = query_max_length or saved.get("query_max_length", 64)
        doc_encoder = SpladeEncoder.from_pretrained(name_or_path, pooling, doc_max_length)
        query_encoder = None
        if (path / QUERY_ENCODER_DIR).is_dir():
            query_encoder = SpladeEncoder.from_pretrained(path / QUERY_ENCODER_DIR, pooling, query_max_length)
        model = cls(doc_encoder, query_encoder, inference_free_query=inference_free)
        model.query_max_length = query_max_length
        return model

    @property
    def vocab_size(self) -> int:
        return self.doc_encoder.vocab_size

    @property
    def pooling(self) -> str:
        return self.doc_encoder.pooling

    @property
    def query_max_length(self) -> int:
        return self.query_encoder.max_length if self.separate else self._query_max_length

    @query_max_length.setter
    def query_max_length(self, value: int) -> None:
        if self.separate:
            self.query_encoder.max_length = value
        if self._bag is not None:
            self._bag.max_length = value
        self._query_max_length = value

    @property
    def doc_max_length(self) -> int:
        return self.doc_encoder.max_length

    def encoder_for(self, side: str) -> tuple[SpladeEncoder, int]:
        """The encoder and max length for 'doc' or 'query' texts."""
        if side == "doc":
            return self.doc_encoder, self.doc_max_length
        if side == "query":
            return self._bag or self.query_encoder, self.query_max_length
        raise ValueError(f"side must be 'doc' or 'query', not {side!r}")

    def config_dict(self) -> dict:
        return {
            "pooling": self.pooling,
            "doc_max_length": self.doc_max_length,
            "query_max_length": self.query_max_length,
            "separate_query_encoder": self.separate,
            INFERENCE_FREE_KEY: self.inference_free_query,
        }

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """HF layout: the document (or shared) encoder at the top, a query encoder beside it."""
        directory = Path(directory)
        self.doc_encoder.save_pretrained(directory)
        if self.separate:
            self.query_encoder.save_pretrained(directory / QUERY_ENCODER_DIR)
        (directory / SPLADE_CONFIG).write_text(json.dumps(self.config_dict(), indent=2) + "\n")
