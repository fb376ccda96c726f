"""The trained module: a `Splade` model (shared or separate encoders) or an inference-free
query side, returning query and document vectors for a batch of tokenized texts."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import SpladeError
from ..model import Splade
from ..model.encoder import BagOfTokensEncoder, bag_of_tokens
from ..model.pooling import training_vectors
from .config import TrainConfig, resolve_model


def load_splade(config: TrainConfig) -> Splade:
    """The starting model with the configured pooling, lengths and encoder layout."""
    model = Splade.from_pretrained(
        resolve_model(config.model),
        pooling=config.pooling,
        doc_max_length=config.doc_max_length,
        query_max_length=config.query_max_length,
    )
    if model.separate and not config.separate_query_encoder:
        raise SpladeError(f"{config.model} has a separate query encoder; set separate_query_encoder: true to train it")
    if config.separate_query_encoder and not model.separate:
        model = Splade(model.doc_encoder, copy.deepcopy(model.doc_encoder))
        model.query_max_length = config.query_max_length
    if config.inference_free_query != model.inference_free_query:  # the query side it trains, and saves
        model = Splade(model.doc_encoder, inference_free_query=config.inference_free_query)
        model.query_max_length = config.query_max_length
    elif config.inference_free_query:
        binary = BagOfTokensEncoder(model.doc_encoder.tokenizer, model.vocab_size).token_weights()
        if not torch.equal(model.encoder_for("query")[0].token_weights(), binary):
            raise SpladeError(f"{config.model}: its query side weights tokens; training scores 1.0 per query token")
    return model


class TrainingModel(nn.Module):
    """forward(query inputs, document inputs) → (query vectors, document vectors), float32."""

    def __init__(self, splade: Splade, inference_free_query: bool = False):
        super().__init__()
        self.splade = splade
        self.inference_free_query = inference_free_query
        special = torch.tensor(sorted(splade.doc_encoder.tokenizer.all_special_ids), dtype=torch.long)
        self.register_buffer("special_ids", special, persistent=False)

    def forward(
        self,
        query_ids: torch.Tensor,
        query_mask: torch.Tensor,
        doc_ids: torch.Tensor,
        doc_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.inference_free_query:
            queries = bag_of_tokens(query_ids, query_mask, self.splade.vocab_size, self.special_ids)
        else:
            queries = training_vectors(self.splade.query_encoder, query_ids, query_mask)
        docs = training_vectors(self.splade.doc_encoder, doc_ids, doc_mask)
        return queries, docs
