"""What an encoding job needs: peak RSS and time of `splade encode`, by model size and batch size.

    python benchmarks/encode_resources.py                # writes benchmarks/results/encode-resources.json

Runs the real CLI (`splade encode --side doc`, the encode_corpus rule's command) under GNU time
on the first documents of the bundled SciFact corpus (most fill the 256-token limit, so batches
are full: the worst case for memory) with:

- the bundled splade-tiny (4.4 M parameters), and
- a BERT-base-sized masked LM (110 M parameters, splade-tiny's tokenizer) with random weights
  whose vocabulary bias lets only KEPT_TERMS terms fire (~300 a document, the order of a
  trained SPLADE model's): the cost of a forward pass does not depend on the weights' values.

The workflow's encode rules size their `mem_mb` and `runtime` from these figures
(splade_core/study/resources.py: encode_memory, encode_minutes).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import measured  # noqa: E402

from splade_core.data import load_collection  # noqa: E402
from splade_core.encode import shard_range  # noqa: E402
from splade_core.sparse.vectors import VectorFile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "splade_core" / "resources" / "models" / "splade-tiny"
CORPUS = "beir/scifact/test"
KEPT_TERMS = 300  # vocabulary entries whose bias lets them fire (nearly all do, in every document)


def bert_base(folder: Path) -> Path:
    """A BERT-base masked LM with random weights and splade-tiny's tokenizer, saved once."""
    if (folder / "model.safetensors").is_file():
        return folder
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=30522))
    with torch.no_grad():
        bias = model.get_output_embeddings().bias
        bias.fill_(-8.0)
        bias[torch.randperm(bias.numel())[:KEPT_TERMS]] = 0.0
    model.save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(TINY).save_pretrained(folder)
    return folder


def weights_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.glob("*.safetensors")) / 2**20


def encoded_text_mb(shards: int, max_length: int) -> float:
    """MB of the shard's text that fits the token limit (what the encoder actually reads)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(TINY)
    collection = load_collection(CORPUS)
    nbytes = 0.0
    for _, text in collection.docs(*shard_range(collection.doc_count(), 0, shards)):
        tokens = len(tokenizer(text, add_special_tokens=True)["input_ids"])
        nbytes += len(text.encode()) * min(1.0, max_length / tokens)
    return nbytes / 2**20


def run(model: Path, batch_size: int, shards: int, threads: int, max_length: int, work: Path) -> dict:
    output = work / f"{model.name}-{batch_size}.npz"
    seconds, rss = measured(
        [
            *(sys.executable, "-m", "splade_core", "encode", "--model", str(model), "--collection", CORPUS),
            *("--side", "doc", "--shard", f"0/{shards}", "--max-length", str(max_length)),
            *("--batch-size", str(batch_size), "--threads", str(threads), "--device", "cpu", "--no-progress"),
            *("--output", str(output)),
        ]
    )
    with VectorFile(output) as encoded:
        rows, nnz = encoded.n_rows, encoded.nnz
    return {"seconds": seconds, "max_rss_mb": round(rss), "rows": rows, "nnz_per_doc": round(nnz / rows, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=20, help="encode shard 0 of this many (SciFact: 5,183 docs)")
    parser.add_argument("--batch-sizes", default="32,128")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "encode-resources.json")
    args = parser.parse_args()
    models = {"splade-tiny": TINY, "bert-base": bert_base(ROOT / "benchmarks" / ".cache" / "bert-base-random")}
    text_mb = encoded_text_mb(args.shards, args.max_length)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, folder in models.items():
            for batch_size in map(int, args.batch_sizes.split(",")):
                row = {"model": name, "weights_mb": round(weights_mb(folder), 1), "batch_size": batch_size}
                row |= run(folder, batch_size, args.shards, args.threads, args.max_length, Path(tmp))
                row["docs_per_s"] = round(row["rows"] / row["seconds"], 2)
                row["minutes_per_text_gb"] = round(row["seconds"] / 60 / (text_mb / 1024), 1)
                rows.append(row)
                print(row, flush=True)
    report = {
        "command": " ".join(["python", *sys.argv]),
        "corpus": CORPUS,
        "text_mb": round(text_mb, 3),
        "max_length": args.max_length,
        "threads": args.threads,
        "device": "cpu",
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "rows": rows,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"-> {args.output}")


if __name__ == "__main__":
    main()
