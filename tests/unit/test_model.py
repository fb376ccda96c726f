import numpy as np
import pytest
import torch

from splade_core.errors import SpladeError
from splade_core.model import Splade, SpladeEncoder, splade_pool


def test_max_pooling_ignores_padding_and_applies_log1p_relu():
    logits = torch.tensor([[[1.0, -2.0, 0.5], [3.0, -1.0, 0.0], [9.0, 9.0, 9.0]]])  # last token is padding
    mask = torch.tensor([[1, 1, 0]])
    pooled = splade_pool(logits, mask, "max")
    expected = torch.log1p(torch.tensor([[3.0, 0.0, 0.5]]))
    torch.testing.assert_close(pooled, expected)


def test_sum_pooling_adds_activated_weights_of_real_tokens():
    logits = torch.tensor([[[1.0, -2.0], [3.0, 4.0], [5.0, 5.0]]])
    mask = torch.tensor([[1, 1, 0]])
    pooled = splade_pool(logits, mask, "sum")
    expected = torch.tensor([[np.log1p(1.0) + np.log1p(3.0), np.log1p(4.0)]], dtype=torch.float32)
    torch.testing.assert_close(pooled, expected)


def test_unknown_pooling_is_rejected():
    with pytest.raises(ValueError, match="pooling"):
        splade_pool(torch.zeros(1, 1, 2), torch.ones(1, 1), "mean")


TEXTS = ["Sparse retrieval with learned term weights.", "a", "BERT masked language model heads " * 20]


@pytest.mark.parametrize("pooling", ["max", "sum"])
def test_fused_inference_path_equals_reference_pooling(splade_tiny, pooling):
    encoder = SpladeEncoder(splade_tiny.doc_encoder.mlm, splade_tiny.doc_encoder.tokenizer, pooling, max_length=64)
    inputs = encoder.tokenize(TEXTS)
    with torch.inference_mode():
        reference = encoder(**inputs)
    fused = encoder.encode_dense(inputs["input_ids"], inputs["attention_mask"])
    torch.testing.assert_close(fused, reference, atol=1e-5, rtol=1e-5)


def test_masked_positions_do_not_contribute(splade_tiny):
    encoder = splade_tiny.doc_encoder
    inputs = encoder.tokenize(TEXTS)
    garbage = inputs["input_ids"].clone()
    garbage[inputs["attention_mask"] == 0] = encoder.tokenizer.convert_tokens_to_ids("protein")
    clean = encoder.encode_dense(inputs["input_ids"], inputs["attention_mask"])
    polluted = encoder.encode_dense(garbage, inputs["attention_mask"])
    torch.testing.assert_close(clean, polluted, atol=1e-5, rtol=1e-5)


def test_decode_lists_heaviest_tokens_first(splade_tiny):
    vector = splade_tiny.doc_encoder.encode_texts(["protein folding"])[0]
    decoded = splade_tiny.doc_encoder.decode(vector, top=5)
    weights = [w for _, w in decoded]
    assert len(decoded) == 5 and weights == sorted(weights, reverse=True)
    assert {"protein", "folding"} & {token for token, _ in decoded}


def test_save_and_load_round_trip_with_separate_query_encoder(splade_tiny, tmp_path):
    import copy

    query_encoder = copy.deepcopy(splade_tiny.doc_encoder)
    model = Splade(splade_tiny.doc_encoder, query_encoder)
    model.query_max_length = 32
    model.save_pretrained(tmp_path / "m")
    loaded = Splade.from_pretrained(tmp_path / "m")
    assert loaded.separate and loaded.query_max_length == 32 and loaded.doc_max_length == 256
    torch.testing.assert_close(
        loaded.query_encoder.encode_texts(["cells"]), model.query_encoder.encode_texts(["cells"])
    )


def test_missing_model_directory_is_a_one_line_error(tmp_path):
    with pytest.raises(SpladeError, match="cannot load model directory"):
        SpladeEncoder.from_pretrained(tmp_path)
