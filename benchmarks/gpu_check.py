"""The CUDA check: what only a GPU can show, in one run of a few minutes, with PASS/FAIL lines and
a table of figures. `benchmarks/gpu_check.sh` installs the project first and runs this.

    bash benchmarks/gpu_check.sh --output $OUT/gpu-check.json          # on a GPU machine
    python benchmarks/gpu_check.py --device cpu --tiny                 # the rehearsal, on a CPU

1. pooling: inference vectors (batched and per-text paths) and the max-pooling gradients on the
   device equal the CPU's in float32;
2. encoding: SciFact documents encoded on the device equal the CPU's (fp32), bf16 / fp16 within
   the bounds of docs/encoding.md;
3. throughput: documents per second of a BERT-base-sized SPLADE per precision (and fp32 with
   TF32) next to sentence-transformers' SparseEncoder in the same run, at 256 tokens and at MS
   MARCO's ~80, and what 8,841,823 passages would take;
4. training: splade-tiny and a BERT-base-sized model in fp32, bf16 and fp16 (GradScaler) at batch
   32: steps per second, peak device memory, finite losses;
5. resume: an fp16 run killed (SIGKILL) after a checkpoint resumes and ends where an
   uninterrupted run ends;
6. launches: `splade train --processes 1` on the device, torchrun with 1 process, 2 gloo
   processes, and 2 processes on the device when it has 2 GPUs.

`--tiny` shrinks every size (a small random BERT instead of BERT-base, a few documents and
steps) so that the whole check runs on a CPU in a few minutes: the rehearsal before device time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_encode  # noqa: E402
from encode_resources import KEPT_TERMS  # noqa: E402

from splade_core.data import load_collection  # noqa: E402
from splade_core.encode import encode_sparse  # noqa: E402
from splade_core.model import Splade  # noqa: E402
from splade_core.model.pooling import VocabularyProjection, hidden_states, max_pooled_projection, projection_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "splade_core" / "resources" / "models" / "splade-tiny"
TRAIN_DATA = f"{ROOT / 'splade_core' / 'resources' / 'datasets' / 'scifact'}:train"  # a BEIR folder: no ir_datasets
MSMARCO_PASSAGES = 8_841_823
# docs/encoding.md: largest weight difference, mean over fp32's non-zeros, largest q·d difference
# relative to the largest q·d (the test suite's bounds on CPU).
BOUNDS = {"bf16": (0.25, 0.025, 0.03), "fp16": (0.05, 0.005, 0.005)}


class Check:
    """PASS/FAIL lines as checks run, figures for the table, all of it for the JSON report."""

    def __init__(self):
        self.results: list[dict] = []
        self.figures: list[dict] = []

    def run(self, name: str, function) -> None:
        started = time.perf_counter()
        try:
            detail = function() or ""
            status = "PASS"
        except AssertionError as exc:
            status, detail = "FAIL", str(exc) or "assertion failed"
        except Exception as exc:  # a crash is a failure of this check; the others still run
            status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        seconds = time.perf_counter() - started
        self.results.append({"check": name, "status": status, "detail": detail, "seconds": round(seconds, 1)})
        print(f"{status} {name} ({seconds:.0f} s){': ' + detail if detail else ''}", flush=True)

    def figure(self, **row) -> None:
        self.figures.append(row)
        print("      " + ", ".join(f"{k}={v}" for k, v in row.items()), flush=True)


def model_folders(tiny: bool, cache: Path) -> dict[str, Path]:
    """splade-tiny, and a BERT-base-sized masked LM (or, with --tiny, a small one) whose
    vocabulary bias lets ~KEPT_TERMS terms fire (encode_resources.bert_base)."""
    if not tiny:
        return {"splade-tiny": TINY, "bert-base": bench_encode.bert_base(cache / "bert-base-random")}
    folder = cache / "bert-small-random"
    if not (folder / "model.safetensors").is_file():
        from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

        torch.manual_seed(0)
        model = BertForMaskedLM(BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2,
                                           num_attention_heads=2, intermediate_size=128))  # fmt: skip
        with torch.no_grad():
            bias = model.get_output_embeddings().bias
            bias.fill_(-8.0)
            bias[torch.randperm(bias.numel())[:KEPT_TERMS]] = 0.0
        model.save_pretrained(folder)
        AutoTokenizer.from_pretrained(TINY).save_pretrained(folder)
    return {"splade-tiny": TINY, "bert-base": folder}


def scifact_texts(count: int) -> list[str]:
    return [text for _, text in itertools.islice(load_collection("bundled/scifact").docs(), count)]


# --- 1. pooling ----------------------------------------------------------------------------------


def check_pooling(device: str, texts: list[str]) -> str:
    splade = Splade.from_pretrained(TINY)
    encoder = splade.doc_encoder
    inputs = encoder.tokenize(texts)
    with torch.inference_mode():
        hidden = hidden_states(encoder.mlm, inputs["input_ids"], inputs["attention_mask"])
    mask = inputs["attention_mask"]
    reference = VocabularyProjection(*projection_of(encoder.mlm)).pool(hidden, mask, "max", "per-text")
    on_device = VocabularyProjection(*(t.to(device) for t in projection_of(encoder.mlm)))
    differences = {}
    for path in ("batched", "per-text"):
        pooled = on_device.pool(hidden.to(device), mask.to(device), "max", path).cpu()
        differences[path] = float((pooled - reference).abs().max())
        assert differences[path] < 1e-4, f"{path} path differs from the CPU by {differences[path]:.2e}"
    weight, bias = (t.detach().clone() for t in projection_of(encoder.mlm))
    upstream = torch.randn(len(texts), weight.shape[0], generator=torch.Generator().manual_seed(0))

    def gradients(on: str):
        h, w, b = (t.detach().clone().to(on).requires_grad_(True) for t in (hidden, weight, bias))
        out = max_pooled_projection(h, mask.to(on), w, b)
        (out * upstream.to(on)).sum().backward()
        return [t.cpu() for t in (out, h.grad, w.grad, b.grad)]

    for name, cpu, dev in zip(
        ("vectors", "hidden grad", "weight grad", "bias grad"), gradients("cpu"), gradients(device)
    ):
        scale = float(cpu.abs().max()) or 1.0
        differences[name] = float((dev - cpu).abs().max()) / scale
        assert differences[name] < 1e-4, f"training {name} differ from the CPU by {differences[name]:.2e} (relative)"
    return ", ".join(f"{k} {v:.1e}" for k, v in differences.items())


# --- 2. encoding equal to the CPU --------------------------------------------------------------------


def check_encoding(device: str, texts: list[str], queries: list[str]) -> str:
    cpu = Splade.from_pretrained(TINY)
    exact_docs = encode_sparse(cpu, "doc", texts).toarray()
    exact_queries = encode_sparse(cpu, "query", queries).toarray()
    model = Splade.from_pretrained(TINY).to(device)
    found = []
    for precision in ("fp32", "bf16", "fp16"):
        docs = encode_sparse(model, "doc", texts, precision=precision).toarray()
        query_vectors = encode_sparse(model, "query", queries, precision=precision).toarray()
        difference = np.abs(docs - exact_docs)
        scores, exact_scores = query_vectors @ docs.T, exact_queries @ exact_docs.T
        score_error = float(np.abs(scores - exact_scores).max() / np.abs(exact_scores).max())
        found.append(f"{precision} max {difference.max():.1e} scores {score_error:.1e}")
        if precision == "fp32":
            assert difference.max() < 1e-4, f"fp32 vectors differ from the CPU's by {difference.max():.2e}"
        else:
            largest, mean, scores_bound = BOUNDS[precision]
            assert difference.max() < largest and difference[exact_docs > 0].mean() < mean, found[-1]
            assert score_error < scores_bound, found[-1]
    return "; ".join(found)


# --- 3. throughput ---------------------------------------------------------------------------------


def check_throughput(check: Check, device: str, folder: Path, args) -> str:
    rates = {}
    for max_length, docs in ((256, args.throughput_docs), (80, args.throughput_docs * 2)):
        texts = scifact_texts(docs)
        run = argparse.Namespace(max_length=max_length, batch_size=args.batch_size, device=device)
        model = Splade.from_pretrained(folder, doc_max_length=max_length).to(device)
        configurations = [(p, False) for p in args.precisions] + ([("fp32", True)] if device.startswith("cuda") else [])
        for precision, tf32 in configurations:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            seconds, _ = bench_encode.time_call(bench_encode.ours(model, texts, run, precision, None), 2, device)
            label = f"{precision}{'+tf32' if tf32 else ''}"
            rates[("splade-core", label, max_length)] = len(texts) / seconds
        torch.backends.cuda.matmul.allow_tf32 = False
        for precision in args.precisions:
            try:
                function = bench_encode.sentence_transformers(folder, texts, run, precision)
            except ImportError:
                break
            seconds, _ = bench_encode.time_call(function, 2, device)
            rates[("SparseEncoder", precision, max_length)] = len(texts) / seconds
    for (engine, precision, max_length), rate in rates.items():
        peer = rates.get(("SparseEncoder", precision.removesuffix("+tf32"), max_length))
        row = {"section": "encode", "model": folder.name, "engine": engine, "precision": precision,
               "max_length": max_length, "docs_per_s": round(rate, 1)}  # fmt: skip
        if engine == "splade-core" and peer:
            row["times_sparse_encoder"] = round(rate / peer, 2)
        if max_length == 80:
            row["msmarco_minutes"] = round(MSMARCO_PASSAGES / rate / 60, 1)
        check.figure(**row)
    best = max((rate, precision) for (engine, precision, length), rate in rates.items()
               if engine == "splade-core" and length == 80)  # fmt: skip
    ratios = [rates[("splade-core", p, 256)] / rates[("SparseEncoder", p, 256)]
              for p in args.precisions if ("SparseEncoder", p, 256) in rates]  # fmt: skip
    summary = f"8.8 M passages at ~80 tokens: {MSMARCO_PASSAGES / best[0] / 60:.1f} min ({best[1]})"
    if ratios:
        summary += f"; ours / SparseEncoder at 256 tokens: {min(ratios):.2f}-{max(ratios):.2f}x"
    return summary


# --- 4-6. training, resume, launches -----------------------------------------------------------------


def training_examples(work: Path, args) -> Path:
    from splade_core.mine import MineConfig, mine_to_file

    path = work / "examples.jsonl"
    if not path.is_file():
        mine_to_file(MineConfig(TRAIN_DATA, depth=20, max_queries=args.train_queries, progress=False), path)
    return path


def train_config(work: Path, name: str, folder: Path, examples: Path, args, **changes):
    from splade_core.train import TrainConfig

    values = dict(train_data=TRAIN_DATA, train_examples=str(examples), output=str(work / name),
                  model=str(folder), steps=args.steps, batch_size=args.train_batch, lr=2e-5, log_every=1,
                  doc_max_length=args.train_max_length, query_max_length=32, lambda_q=1e-3, lambda_d=1e-3,
                  lambda_warmup_steps=0, device=args.device, progress=False, threads=args.threads)  # fmt: skip
    values.update(changes)
    return TrainConfig(**values)


def read_log(output: str) -> list[dict]:
    return [json.loads(line) for line in (Path(output) / "train_log.jsonl").read_text().splitlines()]


def check_training(check: Check, work: Path, folders: dict[str, Path], examples: Path, args) -> str:
    from splade_core.train import train

    found = []
    for name, folder in folders.items():
        for precision in args.precisions:
            config = train_config(work, f"train-{name}-{precision}", folder, examples, args, precision=precision)
            if args.device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            train(config)
            log = read_log(config.output)
            losses = [record["loss"] for record in log]
            assert all(loss is not None and math.isfinite(loss) for loss in losses[-3:]), (
                f"{name} {precision}: {losses}"
            )
            rate = float(np.mean([record["steps_per_s"] for record in log[1:]]))
            peak = round(torch.cuda.max_memory_allocated() / 2**20) if args.device.startswith("cuda") else None
            check.figure(section="train", model=name, precision=precision, batch=config.batch_size,
                         steps_per_s=round(rate, 2), peak_mb=peak, last_loss=losses[-1])  # fmt: skip
            found.append(f"{name} {precision} {rate:.2f} steps/s")
    return "; ".join(found)


# Trains in its own process and is killed (SIGKILL) right after the checkpoint of step `argv[2]`.
KILLED_RUN = textwrap.dedent("""
    import json, os, signal, sys
    from splade_core.train import TrainConfig, train
    config, step = TrainConfig(**json.load(open(sys.argv[1]))), int(sys.argv[2])
    train(config, on_step=lambda done: done == step and os.kill(os.getpid(), signal.SIGKILL))
""")


def check_resume(work: Path, examples: Path, args) -> str:
    from safetensors.torch import load_file

    from splade_core.train import train

    settings = dict(steps=6, checkpoint_every=2, precision="fp16")
    reference = train(train_config(work, "resume-reference", TINY, examples, args, **settings))
    interrupted = train_config(work, "resume-killed", TINY, examples, args, **settings)
    config_path = work / "resume.json"
    config_path.write_text(json.dumps(interrupted.to_dict()))
    script = work / "killed_run.py"
    script.write_text(KILLED_RUN)
    done = subprocess.run([sys.executable, str(script), str(config_path), "4"], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, f"the run was not killed: {done.returncode} {done.stderr[-500:]}"
    resumed = train(interrupted)
    ours, expected = load_file(resumed / "model.safetensors"), load_file(reference / "model.safetensors")
    largest = max(float((ours[k].float() - expected[k].float()).abs().max()) for k in expected)
    steps = [record["step"] for record in read_log(interrupted.output)]
    assert steps == list(range(1, 7)), f"log steps {steps}"
    last, last_expected = read_log(interrupted.output)[-1]["loss"], read_log(reference.parent)[-1]["loss"]
    assert largest < 1e-3, f"resumed weights differ by {largest:.2e}"
    return (
        f"killed after step 4's checkpoint, resumed; weights within {largest:.1e} of an uninterrupted run, "
        f"final loss {last} vs {last_expected}"
    )


def check_launches(check: Check, work: Path, examples: Path, args) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launches = {
        "splade train --processes 1": ([sys.executable, "-m", "splade_core", "train"], 1, args.device),
        "torchrun 1 process": (
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc-per-node",
                "1",
                "-m",
                "splade_core.train",
                "train",
            ],
            1,
            args.device,
        ),  # fmt: skip
        "splade train --processes 2 (gloo)": ([sys.executable, "-m", "splade_core", "train"], 2, "cpu"),
    }
    if args.device.startswith("cuda") and torch.cuda.device_count() >= 2:
        launches["splade train --processes 2 (nccl)"] = ([sys.executable, "-m", "splade_core", "train"], 2, "cuda")
    found = []
    for index, (name, (command, processes, device)) in enumerate(launches.items()):
        config = train_config(work, f"launch-{index}", TINY, examples, args, steps=3, batch_size=4,
                              processes=processes if "torchrun" not in name else 1, device=device)  # fmt: skip
        path = work / f"launch-{index}.json"
        path.write_text(json.dumps(config.to_dict()))
        done = subprocess.run([*command, "--config", str(path)], capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, f"{name}: exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"
        record = json.loads((Path(config.output) / "model" / "training_config.json").read_text())
        assert record["world_size"] == processes, f"{name}: world size {record['world_size']}"
        found.append(f"{name}: ok")
        check.figure(section="launch", launch=name, device=device, world_size=record["world_size"])
    if len(launches) == 3 and args.device.startswith("cuda"):
        found.append(f"2 NCCL processes skipped: {torch.cuda.device_count()} GPU visible")
    return "; ".join(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="rehearsal sizes (a CPU runs the whole check)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--output", type=Path, help="JSON report")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    tiny = args.tiny
    args.precisions = ["fp32", "bf16"] + ([] if tiny and args.device == "cpu" else ["fp16"])
    args.batch_size = 8 if tiny else 128
    args.throughput_docs = 16 if tiny else 2048
    args.train_batch, args.steps, args.train_max_length = (4, 3, 64) if tiny else (32, 20, 256)
    args.train_queries = 40 if tiny else 400
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"FAIL environment: torch {torch.__version__} sees no CUDA device")
        return 1
    environment = {"torch": torch.__version__, "python": platform.python_version(), "device": args.device}
    if args.device.startswith("cuda"):
        environment.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda, gpus=torch.cuda.device_count())
    print("environment: " + ", ".join(f"{k} {v}" for k, v in environment.items()), flush=True)
    check = Check()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        folders = model_folders(tiny, ROOT / "benchmarks" / ".cache")
        texts = scifact_texts(8 if tiny else 256)
        queries = [text for _, text in load_collection("bundled/scifact").queries()[: 8 if tiny else 64]]
        check.run("pooling and gradients equal the CPU's (fp32)", lambda: check_pooling(args.device, texts[:4]))
        check.run("SciFact encoding equals the CPU's", lambda: check_encoding(args.device, texts, queries))
        check.run(
            "encoding throughput vs SparseEncoder",
            lambda: check_throughput(check, args.device, folders["bert-base"], args),
        )
        examples = training_examples(work, args)
        check.run("training fp32 / bf16 / fp16", lambda: check_training(check, work, folders, examples, args))
        check.run("a killed fp16 run resumes", lambda: check_resume(work, examples, args))
        check.run("launches", lambda: check_launches(check, work, examples, args))
    failed = [r["check"] for r in check.results if r["status"] == "FAIL"]
    print("\n| section | figures |\n|---|---|")
    for row in check.figures:
        print(f"| {row['section']} | " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "section") + " |")
    print(
        f"\n{len(check.results) - len(failed)} of {len(check.results)} checks passed"
        + (f"; failed: {failed}" if failed else "")
    )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        report = {"command": " ".join(["python", *sys.argv]), "environment": environment,
                  "checks": check.results, "figures": check.figures}  # fmt: skip
        args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
