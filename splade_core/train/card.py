"""A short model card (README.md) for a trained model: how it was trained and how it ended."""

from __future__ import annotations

from typing import Any


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
        "library_name: splade-core",
        "tags: [splade, sparse-retrieval, learned-sparse-retrieval]",
        "---",
        "",
        "# SPLADE model trained with splade-core",
        "",
        f"Fine-tuned from `{training['model']}` with splade-core {training['splade_core']}.",
        "Load with `splade_core.model.Splade.from_pretrained(<this folder>)`.",
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
