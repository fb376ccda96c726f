"""Mining training examples: BM25 / SPLADE negatives, teacher scores on a device and precision,
batched cross-encoder scoring, and mining as one process."""

import json
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest
import torch

from splade_core.data import load_collection
from splade_core.data.examples import read_examples
from splade_core.errors import SpladeError
from splade_core.mine import MineConfig, default_teacher, mine_examples
from splade_core.mine.teachers import CrossEncoderTeacher
from splade_core.model import Splade
from splade_core.retrieve.bm25 import BM25

TINY_SPLADE = str(resources.files("splade_core") / "resources" / "models" / "splade-tiny")


def mined(collection, **settings):
    return mine_examples(MineConfig(collection, progress=False, **settings))


def test_bm25_negatives_are_the_bm25_ranking_without_judged_documents(collection):
    examples, header = mined(collection, depth=4)
    docs = list(load_collection(collection).docs())
    ids = [doc_id for doc_id, _ in docs]
    rows, _ = BM25([text for _, text in docs]).topk(["protein folding structure?"], k=len(docs))
    expected = [ids[r] for r in rows[0] if r >= 0 and ids[r] not in ("d0_0", "d0_1")][:4]  # q0 judges both
    by_query = {e.query_id: e for e in examples}
    assert by_query["q0"].positives == ("d0_0",) and by_query["q0"].negatives == tuple(expected)
    assert by_query["q0"].negatives[0] == "d0_2"  # the same topic ranks first
    assert [e.query_id for e in examples] == sorted(by_query)
    assert header["method"] == "bm25" and header["examples"] == len(examples) and header["model"] is None
    assert mined(collection, depth=4)[0] == examples  # deterministic


def test_splade_mining_and_self_teacher(collection):
    examples, header = mined(
        collection, method="bm25+splade", depth=3, teacher="self", model=TINY_SPLADE, doc_max_length=64
    )
    assert header["teacher"] == "self" and header["model"] == TINY_SPLADE and header["precision"] == "fp32"
    splade = Splade.from_pretrained(TINY_SPLADE, doc_max_length=64)
    example = examples[1]
    ids = [*example.positives, *example.negatives]
    assert len(example.negatives) == 3 and set(example.scores) == set(ids)
    texts = dict(load_collection(collection).docs())
    q = splade.query_encoder.encode_texts(["cancer tumor growth?"])
    d = splade.doc_encoder.encode_texts([texts[i] for i in ids])
    np.testing.assert_allclose([example.scores[i] for i in ids], (d @ q.T).reshape(-1).numpy(), rtol=1e-4)
    assert example.scores[example.positives[0]] > min(example.scores[n] for n in example.negatives)


def test_a_downloaded_corpus_is_read_by_seeking_with_the_same_examples(collection, tmp_path):
    """The workflow mines from the download stage's copy: texts are read by seeking, not held."""
    from splade_core.data.download import download_collection

    folder = download_collection(collection, tmp_path / "resources", progress=False)["topics"]["path"]
    settings = dict(method="bm25", depth=3, teacher="self", model=TINY_SPLADE, doc_max_length=64)
    assert mined(folder, **settings)[0] == mined(collection, **settings)[0]


def test_bf16_mining_scores_stay_close_to_fp32(collection):
    settings = dict(depth=3, teacher="self", model=TINY_SPLADE, doc_max_length=64)
    fp32, _ = mined(collection, **settings)
    bf16, header = mined(collection, precision="bf16", **settings)
    assert header["precision"] == "bf16"
    assert [e.negatives for e in bf16] == [e.negatives for e in fp32]  # BM25 ranks; the precision scores
    pairs = [(a.scores[d], b.scores[d]) for a, b in zip(fp32, bf16) for d in a.scores]
    difference = max(abs(x - y) for x, y in pairs)
    assert 0 < difference < 0.05 * max(abs(x) for x, _ in pairs)


def test_mining_subset_and_errors(collection):
    subset, header = mined(collection, depth=2, max_queries=3, seed=1)
    assert len(subset) == 3 and header["seed"] == 1
    assert [e.query_id for e in subset] == [e.query_id for e in mined(collection, depth=2, max_queries=3, seed=1)[0]]
    with pytest.raises(SpladeError, match="method must be one of"):
        MineConfig(collection, method="dense")
    with pytest.raises(SpladeError, match="device must be"):
        MineConfig(collection, device="gpu0")
    with pytest.raises(SpladeError, match="no relevance judgments"):
        mined(collection.rpartition(":")[0] + ":test")  # a split without a qrels file


def test_the_study_teacher_is_self_for_distillation_unless_set():
    assert default_teacher(None, "margin_mse") == "self"
    assert default_teacher(None, "contrastive") is None
    assert default_teacher("none", "kl") is None
    assert default_teacher("cross-encoder/x", "contrastive") == "cross-encoder/x"


def _tiny_cross_encoder(path) -> str:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(TINY_SPLADE)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=2)  # fmt: skip
    BertForSequenceClassification(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_cross_encoder_scores_length_sorted_batches_as_one_pair_at_a_time(collection, tmp_path):
    model = _tiny_cross_encoder(tmp_path / "cross-encoder")
    texts = [text for _, text in load_collection(collection).docs()]
    queries = [f"query {i} " * (i % 5 + 1) for i in range(len(texts))]
    batched = CrossEncoderTeacher(model, config=MineConfig(collection, teacher=model, batch_size=4, progress=False))
    single = CrossEncoderTeacher(model, config=MineConfig(collection, teacher=model, batch_size=1, progress=False))
    np.testing.assert_allclose(batched.score_pairs(queries, texts), single.score_pairs(queries, texts), atol=1e-5)
    examples, header = mined(collection, depth=2, teacher=model)
    assert header["teacher_max_length"] == 512 and all(len(e.scores) == 3 for e in examples)


def test_cross_encoder_teacher_fails_clearly_offline(tmp_path):
    teacher = CrossEncoderTeacher(str(tmp_path / "no-such-cross-encoder"))
    with pytest.raises(SpladeError, match="cannot load teacher cross-encoder"):
        teacher.score_pairs(["q"], ["d"])


def _mine_command(collection, output, *flags):
    return [sys.executable, "-m", "splade_core", "mine", "--train-data", collection, "--output", str(output), *flags]


def test_mine_verb_writes_the_file_and_refuses_to_run_inside_a_process_group(collection, tmp_path):
    output = tmp_path / "examples.jsonl"
    done = subprocess.run(
        _mine_command(collection, output, "--depth", "2", "--device", "cpu"), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    examples, header = read_examples(output)
    assert len(examples) == 6 and header["depth"] == 2
    for variable in ("WORLD_SIZE", "SLURM_STEP_NUM_TASKS"):
        env = {**__import__("os").environ, variable: "2"}
        refused = subprocess.run(
            _mine_command(collection, tmp_path / "x.jsonl"), capture_output=True, text=True, env=env
        )
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 2 and len(lines) == 1, refused.stderr
        assert f"{variable}=2" in lines[0] and "mining runs as one process" in lines[0]
        assert not (tmp_path / "x.jsonl").exists()
    header_line = json.loads(output.read_text().splitlines()[0])
    assert header_line["format"] == "splade-core/training-examples"
