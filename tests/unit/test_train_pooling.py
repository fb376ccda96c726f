"""The sparse-gradient max-pooling path equals SpladeEncoder.forward, values and gradients."""

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from splade_core.model import SpladeEncoder
from splade_core.model.pooling import max_pooled_projection, training_vectors
from splade_core.train.model import bag_of_tokens


class _Tokenizer:
    all_special_ids = [0, 1, 2]


def _encoder(pooling="max"):
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=5000,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return SpladeEncoder(BertForMaskedLM(config), _Tokenizer(), pooling=pooling)


def _batch():
    input_ids = torch.tensor([[1, 5, 9, 33, 2, 0], [0, 0, 1, 44, 17, 2], [1, 2, 0, 0, 0, 0]])
    mask = (input_ids != 0).long()  # row 1 is left-padded: the mask need not be a prefix
    return input_ids, mask


@pytest.mark.parametrize("pooling", ["max", "sum"])
def test_training_vectors_match_forward_and_its_gradient(pooling):
    encoder = _encoder(pooling)
    input_ids, mask = _batch()
    upstream = torch.randn(3, 5000)
    reference = encoder(input_ids, mask)
    (reference * upstream).sum().backward()
    expected = {name: p.grad.clone() for name, p in encoder.named_parameters() if p.grad is not None}
    encoder.zero_grad(set_to_none=True)
    vectors = training_vectors(encoder, input_ids, mask)
    (vectors * upstream).sum().backward()
    torch.testing.assert_close(vectors, reference, rtol=1e-5, atol=1e-6)
    for name, p in encoder.named_parameters():
        if name in expected:
            # Sums over tokens in another order: compare at the scale of the gradient.
            scale = expected[name].abs().max().item()
            torch.testing.assert_close(p.grad, expected[name], rtol=1e-4, atol=1e-5 * scale + 1e-9, msg=name)


def test_max_pooled_projection_gradcheck():
    torch.manual_seed(1)
    hidden = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(7, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    # float64 in, float32 maxima: compare against the dense definition instead of gradcheck.
    out = max_pooled_projection(hidden, mask, weight, bias)
    logits = hidden @ weight.T + bias
    dense = torch.log1p(torch.relu(logits.masked_fill(~mask.bool()[..., None], -1e9).amax(dim=1)))
    torch.testing.assert_close(out, dense.float(), rtol=1e-5, atol=1e-6)
    g = torch.randn(2, 7)
    grads = torch.autograd.grad((out * g).sum(), (hidden, weight, bias))
    dense_grads = torch.autograd.grad((dense * g.double()).sum(), (hidden, weight, bias))
    for got, want in zip(grads, dense_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_bag_of_tokens_marks_each_token_once_without_special_tokens():
    input_ids, mask = _batch()
    vectors = bag_of_tokens(input_ids, mask, 50, torch.tensor([0, 1, 2]))
    assert vectors.shape == (3, 50)
    assert torch.nonzero(vectors[0]).reshape(-1).tolist() == [5, 9, 33]
    assert torch.nonzero(vectors[1]).reshape(-1).tolist() == [17, 44]
    assert vectors[2].sum() == 0 and set(vectors.unique().tolist()) == {0.0, 1.0}


def test_padded_batch_path_used_on_gpu_matches_per_text_path():
    from splade_core.model.pooling import _max_pool_padded, _max_pool_per_text

    torch.manual_seed(2)
    hidden, weight, bias = torch.randn(3, 6, 8), torch.randn(5000, 8), torch.randn(5000)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]]).bool()
    results = []
    for path in (_max_pool_per_text, _max_pool_padded):
        maxima, argmax = torch.empty(3, 5000), torch.empty(3, 5000, dtype=torch.long)
        path(hidden, mask, weight, bias, maxima, argmax)
        results.append((maxima, argmax))
    torch.testing.assert_close(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])
    assert results[0][0][2].eq(0).all()
