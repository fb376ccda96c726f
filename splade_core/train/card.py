"""The model card (README.md) of a trained model: the Hugging Face hub's metadata (a YAML block),
how the model was trained and how training ended, and how to load it with splade-core or with
sentence-transformers (the folder is a SparseEncoder folder too). `add_study_metrics` puts a
study's evaluation of the model into the metadata (`model-index`) once the study has run."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..data.collections import MANIFEST, local_folder
from ..errors import SpladeError
from ..io import atomic_dir, atomic_path, read_json
from ..registry import EXACT_SEARCHES, local_path, resolve_model

CARD = "README.md"
HUB_TAGS = ["splade", "sparse-encoder", "sparse", "learned-sparse-retrieval"]
# Summary columns (splade_core.evaluate.aggregate.COLUMNS) a card reports: model-index type, name.
CARD_METRICS = {
    "nDCG@10": ("ndcg_at_10", "nDCG@10"),
    "MRR@10": ("mrr_at_10", "MRR@10"),
    "R@100": ("recall_at_100", "Recall@100"),
    "R@1000": ("recall_at_1000", "Recall@1000"),
    "avg_query_nnz": ("query_active_dims", "Query Active Dims"),
    "avg_doc_nnz": ("corpus_active_dims", "Corpus Active Dims"),
    "flops": ("avg_flops", "Avg FLOPS"),
}
TASK = {"type": "sparse-information-retrieval", "name": "Sparse Information Retrieval"}  # sentence-transformers'
_FRONT_MATTER = re.compile(r"\A---\n(.*?\n)---\n", re.DOTALL)


def model_card(training: dict[str, Any]) -> str:
    metrics = training.get("final_metrics") or {}
    mining = training.get("mining") or {}
    source = training["examples_source"]
    if source == "mined":
        source = f"mined: {mining.get('method')} top {mining.get('depth')}, teacher {mining.get('teacher') or 'none'}"
    query_side = (
        "inference-free (binary bag of query tokens, no query encoder)"
        if training["inference_free_query"]
        else (
            "separate query encoder (query_encoder/)" if training["separate_query_encoder"] else "shared with documents"
        )
    )

    t = training

    def metric(name: str, fmt: str = "{:.4g}") -> str:
        return fmt.format(metrics[name]) if name in metrics else "n/a"

    lines = [
        "---",
        yaml.safe_dump(hub_metadata(training), sort_keys=False, allow_unicode=True).rstrip("\n"),
        "---",
        "",
        "# SPLADE model trained with splade-core",
        "",
        f"Fine-tuned from `{base_model(training)}` with splade-core {training['splade_core']}.",
        "",
        "## Usage",
        "",
        "With splade-core (`pip install splade-core`):",
        "",
        "```python",
        "from splade_core.encode import encode_sparse",
        "from splade_core.model import Splade",
        "",
        'model = Splade.from_pretrained("path/to/model")',
        'docs = encode_sparse(model, "doc", ["SPLADE expands documents with related terms."])  # scipy CSR rows',
        'queries = encode_sparse(model, "query", ["what is splade?"])',
        "scores = (queries @ docs.T).toarray()",
        "```",
        "",
        "```bash",
        "splade encode --model path/to/model --collection beir/scifact/test --side doc --output docs.npz",
        "```",
        "",
        "With sentence-transformers (`SparseEncoder`, sentence-transformers 5.0 or later):",
        "",
        "```python",
        "from sentence_transformers import SparseEncoder",
        "",
        'model = SparseEncoder("path/to/model")',
        'queries = model.encode_query(["what is splade?"])',
        'docs = model.encode_document(["SPLADE expands documents with related terms."])',
        "scores = model.similarity(queries, docs)",
        "```",
        "",
        _query_length_note(training),
        "",
        "## Training",
        "",
        "| setting | value |",
        "|---|---|",
        f"| data | `{training['train_data']}` ({training['examples']} examples; {source}) |",
        f"| loss | {training['loss']}, {training['n_negatives']} hard negative(s) per query |",
        f"| regularization | λq = {t['lambda_q']:g} ({t['reg_q']}), λd = {t['lambda_d']:g} ({t['reg_d']}), "
        f"quadratic warm-up over {t['lambda_warmup']} steps |",
        f"| steps | {t['steps']} optimizer steps × {t['batch_size']} examples "
        f"({t['grad_accum']} micro-batches, {t['world_size']} process(es)) |",
        f"| optimizer | AdamW lr {t['lr']:g}, {t['warmup_steps']} warm-up steps then linear decay, "
        f"weight decay {t['weight_decay']:g}, grad clip {t['max_grad_norm']} |",
        f"| encoders | {t['pooling']} pooling; queries: {query_side}; "
        f"max length {t['query_max_length']} (queries) / {t['doc_max_length']} (documents) |",
        f"| precision, seed | {training['precision']}, {training['seed']} |",
        f"| time | {training['train_seconds']:.0f} s |",
        "",
        "## Final training metrics (last logged window)",
        "",
        f"loss {metric('loss')}, ranking loss {metric('rank_loss')}, FLOPS/L1 q {metric('reg_q')}, "
        f"d {metric('reg_d')}; mean non-zeros per query {metric('nnz_q', '{:.1f}')}, per document "
        f"{metric('nnz_d', '{:.1f}')}; {metric('steps_per_s', '{:.3g}')} steps/s.",
        "",
        "Full settings: `training_config.json`; the training log is `train_log.jsonl` beside the model folder.",
        "",
    ]
    return "\n".join(lines)


def _query_length_note(training: dict[str, Any]) -> str:
    if training["inference_free_query"] or training["separate_query_encoder"]:
        return "Both give the same vectors (up to float rounding)."
    query, doc = training["query_max_length"], training["doc_max_length"]
    return (
        f"Both give the same vectors (up to float rounding), except for queries of more than {query} tokens "
        f"([CLS] and [SEP] included): one shared encoder has one max length in sentence-transformers (the "
        f"documents' {doc}), so set `model.max_seq_length = {query}` before `encode_query` to cut queries as "
        "splade-core does."
    )


def hub_metadata(training: dict[str, Any]) -> dict[str, Any]:
    """The card's YAML metadata: what the Hugging Face hub reads (base model, library, task, tags,
    training data, language, license when known)."""
    base = base_model(training)
    query_tags = ["inference-free"] if training["inference_free_query"] else []
    query_tags += ["asymmetric"] if training["separate_query_encoder"] else []
    metadata: dict[str, Any] = {}
    if _hub_id(base):
        metadata["base_model"] = base
    data = _source(training["train_data"])
    if local_folder(data) is None:  # an ir_datasets id, not a folder of this machine
        beir = re.fullmatch(r"beir/([^/]+).*", data)
        metadata["datasets"] = [f"BeIR/{beir.group(1)}" if beir else data]  # BEIR's copy on the hub
    metadata.update(language=["en"], library_name="sentence-transformers")
    if (license_id := _license(base)) is not None:
        metadata["license"] = license_id
    metadata["pipeline_tag"] = "feature-extraction"
    metadata["tags"] = [*HUB_TAGS, *query_tags, "splade-core"]
    return metadata


def base_model(training: dict[str, Any]) -> str:
    """The model training started from, as the study named it (a downloaded folder's source)."""
    return _source(training.get("model_path") or training["model"])


def _source(spec: str) -> str:
    """What a downloaded folder was downloaded from (its manifest's source), else `spec`."""
    folder = local_path(spec)
    manifest = folder / MANIFEST if folder is not None else None
    if manifest is not None and manifest.is_file():
        source = read_json(manifest).get("source")
        if isinstance(source, str) and source:
            return source
    return spec


def _hub_id(spec: str) -> bool:
    """Whether `spec` names a Hugging Face repository (org/name), not a folder or bundled model."""
    if spec.startswith("bundled/") or local_path(spec) is not None:
        return False
    return re.fullmatch(r"[\w.-]+/[\w.-]+", spec) is not None


def _license(model: str) -> str | None:
    """The license of a base model, when a local copy says: its card's `license:`, or an
    Apache-2.0 LICENSE file (the bundled models')."""
    folder = local_path(resolve_model(model))
    if folder is None or not folder.is_dir():
        return None
    if (folder / CARD).is_file() and (match := _FRONT_MATTER.match((folder / CARD).read_text(errors="replace"))):
        try:
            metadata = yaml.safe_load(match.group(1))
        except yaml.YAMLError:
            metadata = None
        if isinstance(metadata, dict) and isinstance(metadata.get("license"), str):
            return metadata["license"]
    if (folder / "LICENSE").is_file():
        head = (folder / "LICENSE").read_text(errors="replace")[:400]
        if re.search(r"Apache License\s+Version 2\.0", head):
            return "apache-2.0"
    return None


def add_study_metrics(
    model_dir: str | os.PathLike,
    summaries: Sequence[str | os.PathLike],
    model: str,
    setting: str,
    dataset_ids: dict[str, str] | None = None,
) -> int:
    """Rewrite the `model-index` of `model_dir`'s card with the study's figures for (`model`,
    `setting`) unpruned: one result per dataset summary CSV (`aggregate_results`) that has the
    row. `dataset_ids` maps a summary's dataset name to the collection id to show. Returns the
    number of results; a card without a metadata block, or no row anywhere, is a SpladeError."""
    import pandas as pd

    card = Path(model_dir) / CARD
    text = card.read_text() if card.is_file() else ""
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise SpladeError(f"{card}: no model card with a metadata block (--- ... ---) to add metrics to")
    metadata = yaml.safe_load(match.group(1)) or {}
    results = []
    for summary in summaries:
        try:
            frame = pd.read_csv(summary, dtype={"model": str, "setting": str, "prune": str}, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise SpladeError(f"{summary}: not a summary CSV ({str(exc).strip().splitlines()[0]})") from None
        if missing := {"dataset", "model", "setting", "prune"} - set(frame.columns):
            raise SpladeError(f"{summary}: not a study summary (no column {sorted(missing)[0]!r})")
        exact = frame["search"].isin(EXACT_SEARCHES) if "search" in frame else True  # not approximate rows
        rows = frame[(frame["model"] == model) & (frame["setting"] == setting) & (frame["prune"] == "none") & exact]
        for _, row in rows.iterrows():
            results.append(_result(row, (dataset_ids or {}).get(str(row["dataset"]), str(row["dataset"]))))
    if not results:
        raise SpladeError(
            f"no unpruned row of model {model!r}, setting {setting!r} in {', '.join(map(str, summaries))}"
        )
    metadata["model-index"] = [{"name": f"{model} {setting} (splade-core)", "results": results}]
    block = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
    with atomic_path(card) as tmp:
        tmp.write_text(f"---\n{block}---\n{text[match.end() :]}")
    return len(results)


def _result(row, dataset: str) -> dict[str, Any]:
    metrics = []
    for column, (kind, name) in CARD_METRICS.items():
        value = _number(row.get(column))
        if value is not None:
            metrics.append({"type": kind, "value": round(value, 4), "name": name})
    return {"task": dict(TASK), "dataset": {"type": dataset, "name": str(row["dataset"])}, "metrics": metrics}


def _number(value: Any) -> float | None:
    """A summary cell as a float; None if empty or not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def publish_model(
    model_dir: str | os.PathLike,
    output: str | os.PathLike,
    summaries: Sequence[str | os.PathLike],
    model: str,
    setting: str,
    dataset_ids: dict[str, str] | None = None,
) -> int:
    """A hub-ready copy of `model_dir` at `output` (written whole or not at all): the model folder
    with its card's `model-index` holding the study's figures (`add_study_metrics`). Returns the
    number of results."""
    import shutil

    with atomic_dir(output) as tmp:
        shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
        return add_study_metrics(tmp, summaries, model, setting, dataset_ids)
