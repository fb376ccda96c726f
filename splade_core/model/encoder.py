"""SPLADE encoders: a masked-LM and its tokenizer turning texts into vocabulary-sized vectors
(pooling in `splade_core.model.pooling`), and `Splade`, the document and query sides of a model,
whose folders sentence-transformers' SparseEncoder loads too (`sentence_transformers_format`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForMaskedLM, AutoTokenizer, PreTrainedTokenizerBase

from ..errors import SpladeError
from ..io import write_json
from ..registry import (  # noqa: F401  (BUNDLED_MODELS, POOLINGS, resolve_model: re-exported)
    BUNDLED_MODELS,
    INFERENCE_FREE_KEY,
    POOLINGS,
    local_path,
    resolve_model,
)
from .pooling import VocabularyProjection, hidden_states, splade_pool
from .precision import autocast
from .sentence_transformers_format import MODULES_FILE, StaticQuery, read_layout, read_static_query, write_files

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


def added_tokens(tokenizer: PreTrainedTokenizerBase) -> tuple[int, int]:
    """How many tokens the tokenizer adds before and after a text's own ([CLS] and [SEP]: 1, 1)."""
    plain = tokenizer("splade", add_special_tokens=False)["input_ids"]
    full = tokenizer("splade")["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return start, len(full) - start - len(plain)
    raise SpladeError(f"cannot tell which tokens the {type(tokenizer).__name__} adds around a text")


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

    def token_weights(self) -> torch.Tensor:
        """Each vocabulary token's weight in a query vector: 1.0, special tokens 0.0."""
        weights = torch.ones(self.vocab_size)
        special = self.special_ids.cpu()
        weights[special[special < self.vocab_size]] = 0.0
        return weights


def static_weights(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, weights: torch.Tensor, added: tuple[int, int]
) -> torch.Tensor:
    """Query vectors of static token weights: weights[t] at each distinct token t of a text,
    leaving out the `added` (before, after) tokens of each row's real ones ([CLS], [SEP])."""
    real = attention_mask.bool()
    rank = torch.cumsum(real, dim=1)  # 1-based position among the row's real tokens
    keep = real & (rank > added[0]) & (rank <= real.sum(dim=1, keepdim=True) - added[1])
    vectors = torch.zeros(input_ids.shape[0], len(weights), dtype=torch.float32, device=input_ids.device)
    rows = torch.arange(input_ids.shape[0], device=input_ids.device).unsqueeze(1).expand_as(input_ids)
    ids = input_ids[keep]
    vectors[rows[keep], ids] = weights.to(input_ids.device, torch.float32)[ids]
    return vectors


class StaticWeightsEncoder(BagOfTokensEncoder):
    """An inference-free query side with a weight per vocabulary token, as sentence-transformers'
    SparseStaticEmbedding computes it (e.g. IDF weights): weights[t] at each distinct token t of
    the query's text, every token (special or not) weighted by the table, and no model runs.
    SparseStaticEmbedding tokenizes without the tokens the tokenizer adds around a text; here the
    text is tokenized with them (max_length counts them) and they are left out by position, so a
    text that spells one out ("[SEP]") keeps it, as there."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, weights: torch.Tensor, max_length: int = 64):
        super().__init__(tokenizer, len(weights), max_length)
        self.register_buffer("weights", weights.detach().float())
        self.added = added_tokens(tokenizer)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **inputs) -> torch.Tensor:
        return static_weights(input_ids, attention_mask, self.weights, self.added)

    def token_weights(self) -> torch.Tensor:
        return self.weights.cpu()


class Splade(nn.Module):
    """A document encoder and a query encoder: shared (one model), separate, or inference-free
    (a bag of the query's tokens: `query_bag`, by default 1.0 per token)."""

    def __init__(
        self,
        doc_encoder: SpladeEncoder,
        query_encoder: SpladeEncoder | None = None,
        inference_free_query: bool = False,
        query_bag: BagOfTokensEncoder | None = None,
    ):
        super().__init__()
        if inference_free_query and query_encoder is not None:
            raise SpladeError("an inference-free query side has no query encoder")
        if query_bag is not None and not inference_free_query:
            raise SpladeError("a bag of query tokens is an inference-free query side: set inference_free_query")
        self.doc_encoder = doc_encoder
        self.separate = query_encoder is not None
        self.inference_free_query = inference_free_query
        self.query_encoder = query_encoder if query_encoder is not None else doc_encoder
        if inference_free_query and query_bag is None:
            query_bag = BagOfTokensEncoder(doc_encoder.tokenizer, doc_encoder.vocab_size)
        self._bag = query_bag
        self._query_max_length = query_bag.max_length if query_bag is not None else 64  # until set
        query_vocab = (self._bag if self._bag is not None else self.query_encoder).vocab_size
        if query_vocab != doc_encoder.vocab_size:
            raise SpladeError(
                f"query side vocabulary ({query_vocab}) differs from the document encoder's ({doc_encoder.vocab_size})"
            )

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        pooling: str | None = None,
        doc_max_length: int | None = None,
        query_max_length: int | None = None,
    ) -> Splade:
        """Load a model saved by `save_pretrained`, a sentence-transformers SparseEncoder folder, or
        any HF masked-LM as a shared encoder.

        Settings not given come from the folder's SparseEncoder files (modules.json: pooling, max
        lengths, query side; `sentence_transformers_format`), else its `splade_config.json` (which
        also says whether queries are inference-free), else defaults (max pooling, 256 document
        tokens, 64 query tokens). Where both files set one, they must agree.
        """
        path = Path(name_or_path)
        saved = _read_splade_config(path / SPLADE_CONFIG)
        inference_free = saved.get(INFERENCE_FREE_KEY, False)
        if not isinstance(inference_free, bool):
            raise SpladeError(f"{path / SPLADE_CONFIG}: {INFERENCE_FREE_KEY} must be true or false")
        if (path / MODULES_FILE).is_file():
            return cls._from_sparse_encoder_files(path, saved, pooling, doc_max_length, query_max_length)
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

    @classmethod
    def load(
        cls,
        spec: str | os.PathLike,
        pooling: str | None = None,
        doc_max_length: int | None = None,
        query_max_length: int | None = None,
    ) -> Splade:
        """`from_pretrained` of a model as users name it: an HF id, a local folder, or
        `bundled/<name>`; a local path that is no folder is a SpladeError naming it."""
        source = resolve_model(str(spec))
        folder = local_path(source)
        if folder is not None and not folder.is_dir():
            raise SpladeError(f"unknown model path {str(spec)!r}: no such directory")
        return cls.from_pretrained(folder or source, pooling, doc_max_length, query_max_length)

    @classmethod
    def _from_sparse_encoder_files(cls, path: Path, saved: dict, pooling, doc_max_length, query_max_length) -> Splade:
        layout = read_layout(path)
        doc, query = layout.doc, layout.query
        if query is not None and not query.static and query.pooling != doc.pooling:
            where = path / MODULES_FILE
            raise SpladeError(f"{where}: queries pool by {query.pooling}, documents by {doc.pooling}: one per model")
        doc_encoder = SpladeEncoder.from_pretrained(doc.folder, pooling or doc.pooling)
        found = {
            "pooling": doc.pooling,
            "doc_max_length": doc.max_length or _tokenizer_max_length(doc_encoder),
            "separate_query_encoder": query is not None and not query.static,
            INFERENCE_FREE_KEY: query is not None and query.static,
        }
        query_encoder = bag = None
        if query is None:  # one module, one max length: splade_config.json's, else the document one
            found["query_max_length"] = saved.get("query_max_length", found["doc_max_length"])
        elif query.static:
            static = read_static_query(query.folder, doc_encoder.vocab_size)
            bag = StaticWeightsEncoder(static.tokenizer, static.weights)
            found["query_max_length"] = static.max_length + sum(bag.added)
        else:
            query_encoder = SpladeEncoder.from_pretrained(query.folder, pooling or doc.pooling)
            found["query_max_length"] = query.max_length or _tokenizer_max_length(query_encoder)
        for key, value in found.items():
            if key in saved and saved[key] != value:
                where = path / SPLADE_CONFIG
                raise SpladeError(f"{where}: {key} is {saved[key]!r}, but {MODULES_FILE} and its modules say {value!r}")
        doc_encoder.max_length = doc_max_length or found["doc_max_length"]
        model = cls(doc_encoder, query_encoder, inference_free_query=bag is not None, query_bag=bag)
        model.query_max_length = query_max_length or found["query_max_length"]
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
        """HF layout: the document (or shared) encoder at the top, a query encoder beside it, and
        the files with which sentence-transformers' SparseEncoder loads the folder as it is
        (`sentence_transformers_format`, which says what it gives differently: long queries of a
        shared encoder)."""
        directory = Path(directory)
        self.doc_encoder.save_pretrained(directory)
        if self.separate:
            self.query_encoder.save_pretrained(directory / QUERY_ENCODER_DIR)
        write_json(directory / SPLADE_CONFIG, self.config_dict())
        static = None
        if self._bag is not None:
            content = self.query_max_length - sum(added_tokens(self._bag.tokenizer))
            static = StaticQuery(self._bag.tokenizer, self._bag.token_weights(), content)
        query_dir = QUERY_ENCODER_DIR if self.separate else None
        write_files(directory, self.pooling, self.doc_max_length, query_dir, self.query_max_length, static)


def _tokenizer_max_length(encoder: SpladeEncoder) -> int:
    """sentence-transformers' max length where its files set none: the tokenizer's, capped at the
    model's positions."""
    positions = getattr(encoder.mlm.config, "max_position_embeddings", -1)
    limit = encoder.tokenizer.model_max_length
    return min(limit, positions) if positions and positions > 0 else limit
