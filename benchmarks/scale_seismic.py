"""Seismic beside our presets at MS MARCO size, on the files `benchmarks/scale.py` leaves.

    python benchmarks/scale_seismic.py      # after `python benchmarks/scale.py` (its study and BP index)

bench_index.py holds every engine's input and a float32 SciPy copy of the documents at once,
which does not fit 24 GiB at 8.8 M documents. This script feeds Seismic (pyseismic-lsr) the
quantized documents a chunk at a time, takes the exact top-10 from our BP index
(`exhaustive`, checked equal to brute force in tests/ext) and then, for each recall@10 target,
tunes Seismic by timing on the 500 calibration queries that calibrated our presets (as
bench_index.py does: `query_cut` × `heap_factor`, rebuilt with more postings per list when no
setting reaches the target) and times it and our preset on the first 1,000 queries (CPU p50,
single thread). Recall is tie-aware (a returned document counts when its score reaches the
exact 10th score); Seismic's returned scores are exact dot products of the impacts it was fed.
Results: benchmarks/results/scale-seismic-<docs>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import CALIBRATION_QUERIES, MSMARCO_DOCS  # noqa: E402

from splade_core.index import InvertedIndex  # noqa: E402
from splade_core.index.presets import PRESETS, recall_at_k  # noqa: E402
from splade_core.io import write_json  # noqa: E402
from splade_core.retrieve.search import timed_calls  # noqa: E402
from splade_core.sparse import SparseVectors  # noqa: E402
from splade_core.sparse.vectors import VectorFile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
K = 10
N_POSTINGS_FRACTIONS = (0.15, 0.3, 0.6)  # of the mean document frequency, as engines/seismic.py
QUERY_CUTS = (5, 8, 10, 12, 15, 20, 25, 30, 40)
HEAP_FACTORS = (0.6, 0.7, 0.8, 0.9, 1.0)


def build(seismic, docs_path: Path, n_postings: int, threads: int):
    dataset = seismic.SeismicDataset()
    with VectorFile(docs_path) as file:
        start = 0
        for chunk in file.chunks():
            dataset.add_documents_by_id(
                [str(i) for i in range(start, start + chunk.n_rows)],
                chunk.indices.astype(np.int64),
                chunk.data.astype(np.float32),
                chunk.indptr.astype(np.int64),
            )
            start += chunk.n_rows
    return seismic.SeismicIndex.build_from_dataset(
        dataset, n_postings=n_postings, centroid_fraction=0.1, summary_energy=0.4, doc_cut=15, num_threads=threads
    )


def seismic_topk(index, prepared, query_cut: float, heap_factor: float) -> tuple[np.ndarray, np.ndarray]:
    """(doc_idx, scores) arrays [n, K] of one search per query, padded with -1 / 0."""
    doc_idx = np.full((len(prepared), K), -1, dtype=np.int64)
    scores = np.zeros((len(prepared), K))
    for row, (terms, weights) in enumerate(prepared):
        found = index.search("q", terms, weights, K, query_cut, heap_factor)
        for j, (_, score, doc) in enumerate(found[:K]):
            doc_idx[row, j], scores[row, j] = int(doc), score
    return doc_idx, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=MSMARCO_DOCS)
    parser.add_argument("--queries", type=int, default=1000, help="timed queries (the first ones)")
    parser.add_argument("--threads", type=int, default=2, help="Seismic's build threads")
    parser.add_argument("--work", type=Path, help="scale.py's folder (default: benchmarks/.cache/scale-<docs>)")
    args = parser.parse_args()
    import seismic

    work = args.work or ROOT / "benchmarks" / ".cache" / f"scale-{args.docs}"
    quantized = work / "results" / "quantize" / "synthetic" / "synthetic" / "pretrained"
    docs_path = quantized / "docs.npz"
    queries = SparseVectors.load(quantized / "queries.npz")
    csr = queries.to_csr()
    timed, held_out = csr[: args.queries], csr[args.queries : args.queries + CALIBRATION_QUERIES]
    ours = InvertedIndex.load(work / "bp" / "index.bin")
    exact = {name: ours.search(rows, k=K, algorithm="exhaustive", threads=2) for name, rows in
             (("timed", timed), ("held_out", held_out))}  # fmt: skip
    kind = seismic.get_seismic_string()

    def prepare(rows):
        return [
            (np.array([str(t) for t in rows.indices[a:b]], dtype=kind), rows.data[a:b].astype(np.float32))
            for a, b in zip(rows.indptr[:-1], rows.indptr[1:])
        ]

    prepared = {"timed": prepare(timed), "held_out": prepare(held_out)}
    with VectorFile(docs_path) as file:
        avg_df = file.nnz / max(1, int((file.term_df() > 0).sum()))
    out = {"docs": args.docs, "timed_queries": args.queries, "calibration_queries": CALIBRATION_QUERIES, "rows": []}
    attempt, index, builds = 0, None, []
    for name, target in PRESETS.items():
        preset = ours.preset(name)
        _, cpu, found = timed_calls([lambda row=row, name=name: ours.search(timed[row : row + 1], k=K, algorithm=name)
                                     for row in range(timed.shape[0])])  # fmt: skip
        got = (np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found]))
        out["rows"].append({"engine": "ours", "target": target, "setting": preset.to_json(),
                            "cpu_p50_ms": round(float(np.median(cpu)), 3),
                            "recall@10": round(float(np.nanmean(recall_at_k(exact["timed"], got))), 4)})  # fmt: skip
        print(out["rows"][-1], file=sys.stderr, flush=True)
        best = None
        while best is None and attempt < len(N_POSTINGS_FRACTIONS):
            if index is None:
                n_postings = int(avg_df * N_POSTINGS_FRACTIONS[attempt])
                started = time.perf_counter()
                index = build(seismic, docs_path, n_postings, args.threads)
                builds.append({"n_postings": n_postings, "build_s": round(time.perf_counter() - started, 1)})
                print(builds[-1], file=sys.stderr, flush=True)
            for query_cut in QUERY_CUTS:
                for heap_factor in HEAP_FACTORS:
                    started = time.process_time()
                    got = seismic_topk(index, prepared["held_out"], query_cut, heap_factor)
                    seconds = time.process_time() - started
                    recall = float(np.nanmean(recall_at_k(exact["held_out"], got)))
                    if recall >= target and (best is None or seconds < best[1]):
                        best = ((query_cut, heap_factor), seconds, recall)
            if best is None:
                attempt, index = attempt + 1, None
        if best is None:
            out["rows"].append({"engine": "seismic", "target": target, "error": "no setting reached the target"})
            continue
        (query_cut, heap_factor), _, tuned = best
        settings = (K, query_cut, heap_factor)
        _, cpu, _ = timed_calls([lambda q=q, index=index, settings=settings: index.search("q", q[0], q[1], *settings)
                                 for q in prepared["timed"]])  # fmt: skip
        got = seismic_topk(index, prepared["timed"], query_cut, heap_factor)
        out["rows"].append({"engine": "seismic", "target": target, "n_postings": builds[-1]["n_postings"],
                            "query_cut": query_cut, "heap_factor": heap_factor, "held_out_recall@10": round(tuned, 4),
                            "cpu_p50_ms": round(float(np.median(cpu)), 3),
                            "recall@10": round(float(np.nanmean(recall_at_k(exact["timed"], got))), 4)})  # fmt: skip
        print(out["rows"][-1], file=sys.stderr, flush=True)
    out["seismic_builds"] = builds
    path = ROOT / "benchmarks" / "results" / f"scale-seismic-{args.docs}.json"
    write_json(path, out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
