"""Seismic and BMP beside our search at MS MARCO size, in one run, on the files `benchmarks/scale.py` leaves.

    python benchmarks/scale_peers.py      # after `python benchmarks/scale.py` (its study and BP index)

bench_index.py holds every engine's input and a float32 SciPy copy of the documents at once,
which does not fit 24 GiB at 8.8 M documents; this script holds one peer at a time beside our
BP index and feeds each the quantized documents from disk. The exact top-k come from our index
(`exhaustive`, checked equal to brute force in tests/ext). Timed on the first 1,000 queries
(CPU p50, single thread, `timed_calls`):
- ours: the `default` exact algorithm at k = 10 and 1,000, and each approximate preset;
- Seismic (pyseismic-lsr), fed a chunk at a time: for each recall@10 target, tuned by timing on
  the 500 calibration queries that calibrated our presets (`query_cut` × `heap_factor`, rebuilt
  with more postings per list when no setting reaches the target, as bench_index.py does);
- BMP (Mallia et al.), from a CIFF export streamed from the documents, safe (alpha = beta = 1)
  at k = 10 and 1,000: exact up to its re-quantization of query weights, so its recall is given.
Recall is tie-aware (a returned document counts when its true score reaches the exact k-th
score); Seismic returns true dot products of the impacts it was fed, and BMP's documents are
rescored from the collection. Build time, peak memory and index size are given per peer.
Results: benchmarks/results/scale-peers-<docs>.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engines  # noqa: E402
from scale import CALIBRATION_QUERIES, MSMARCO_DOCS, stacked  # noqa: E402

from splade_core.formats import write_ciff  # noqa: E402
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


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def ours_rows(ours: InvertedIndex, timed, exact: dict) -> list[dict]:
    """Our exact search (the `default` algorithm) at k = 10 and 1,000, and each preset at k = 10."""
    rows = []
    searches = [(k, "default") for k in (10, 1000)] + [(K, name) for name in PRESETS]
    for k, name in searches:
        calls = [lambda row=row, k=k, name=name: ours.search(timed[row : row + 1], k=k, algorithm=name)
                 for row in range(timed.shape[0])]  # fmt: skip
        _, cpu, found = timed_calls(calls)
        row = {"engine": "ours", "k": k, "search": name, "cpu_p50_ms": round(float(np.median(cpu)), 3)}
        if name == "default":
            row["algorithm"] = ours.default_algorithm(k)
        else:
            row["setting"] = ours.preset(name).to_json()
            row["target"] = PRESETS[name]
        row[f"recall@{k}"] = round(float(np.nanmean(recall_at_k(exact[k], stacked(found)))), 4)
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
    return rows


def seismic_rows(docs_path: Path, timed, held_out, exact: dict, exact_held_out, threads: int, peers: Path):
    """Seismic tuned per recall@10 target (see the module docstring); rows and builds."""
    import seismic

    kind = seismic.get_seismic_string()

    def prepare(rows):
        return [
            (np.array([str(t) for t in rows.indices[a:b]], dtype=kind), rows.data[a:b].astype(np.float32))
            for a, b in zip(rows.indptr[:-1], rows.indptr[1:])
        ]

    prepared = {"timed": prepare(timed), "held_out": prepare(held_out)}
    with VectorFile(docs_path) as file:
        avg_df = file.nnz / max(1, int((file.term_df() > 0).sum()))
    rows, builds, attempt, index = [], [], 0, None
    for target in PRESETS.values():
        best = None
        while best is None and attempt < len(N_POSTINGS_FRACTIONS):
            if index is None:
                n_postings = int(avg_df * N_POSTINGS_FRACTIONS[attempt])
                before, started = peak_rss_mb(), time.perf_counter()
                index = build(seismic, docs_path, n_postings, threads)
                builds.append({"n_postings": n_postings, "build_s": round(time.perf_counter() - started, 1),
                               "peak_rss_mb": round(peak_rss_mb()), "peak_rss_before_mb": round(before),
                               "index_mb": index_mb(index, peers)})  # fmt: skip
                print(builds[-1], file=sys.stderr, flush=True)
            for query_cut in QUERY_CUTS:
                for heap_factor in HEAP_FACTORS:
                    started = time.process_time()
                    got = seismic_topk(index, prepared["held_out"], query_cut, heap_factor)
                    seconds = time.process_time() - started
                    recall = float(np.nanmean(recall_at_k(exact_held_out, got)))
                    if recall >= target and (best is None or seconds < best[1]):
                        best = ((query_cut, heap_factor), seconds, recall)
            if best is None:
                attempt, index = attempt + 1, None
        if best is None:
            rows.append({"engine": "seismic", "k": K, "target": target, "error": "no setting reached the target"})
            continue
        (query_cut, heap_factor), _, tuned = best
        settings = (K, query_cut, heap_factor)
        _, cpu, _ = timed_calls([lambda q=q, index=index, settings=settings: index.search("q", q[0], q[1], *settings)
                                 for q in prepared["timed"]])  # fmt: skip
        got = seismic_topk(index, prepared["timed"], query_cut, heap_factor)
        rows.append({"engine": "seismic", "k": K, "target": target, "n_postings": builds[-1]["n_postings"],
                     "query_cut": query_cut, "heap_factor": heap_factor, "held_out_recall@10": round(tuned, 4),
                     "cpu_p50_ms": round(float(np.median(cpu)), 3),
                     "recall@10": round(float(np.nanmean(recall_at_k(exact[K], got))), 4)})  # fmt: skip
        print(rows[-1], file=sys.stderr, flush=True)
    return rows, builds


def index_mb(index, folder: Path) -> float | None:
    """Size of a Seismic index as it saves it (None when the disk has no room for it)."""
    path = folder / "seismic-size"
    path.mkdir(parents=True, exist_ok=True)
    try:
        index.save(str(path / "index"))
        return round(sum(p.stat().st_size for p in path.iterdir()) / 2**20, 1)
    except OSError:
        return None
    finally:
        shutil.rmtree(path)


def bmp_rows(
    docs_path: Path, queries: SparseVectors, n_timed: int, n_k1000: int, exact: dict, peers: Path
) -> tuple[list, dict]:
    """BMP, safe, at k = 10 on the n_timed queries and at k = 1,000 on the first n_k1000 of them
    (see the module docstring); rows and its build."""
    bmp = engines.Bmp()
    ciff = peers / "collection.ciff"
    started = time.perf_counter()
    with VectorFile(docs_path) as file:  # documents are named by row: "0", "1", ...
        write_ciff(file, ciff, engines.base.term_name(range(file.vocab_size)), description="benchmarks/scale_peers.py")
    build_out = {"ciff_s": round(time.perf_counter() - started, 1), "ciff_mb": round(ciff.stat().st_size / 2**20, 1)}
    started = time.perf_counter()
    bmp.from_ciff(ciff, peers / "index.bmp")
    build_out |= {"build_s": round(time.perf_counter() - started, 1),
                  "build_peak_rss_mb": round(peak_rss_mb(resource.RUSAGE_CHILDREN)),
                  "index_mb": round(bmp.nbytes() / 2**20, 1)}  # fmt: skip
    ciff.unlink()
    print(build_out, file=sys.stderr, flush=True)
    prepared = bmp.prepare(engines.split_queries(queries)[:n_timed])
    rows, found = [], {}
    for k, n in ((10, n_timed), (1000, n_k1000)):
        _, cpu, found[k] = timed_calls([lambda q=q, k=k, search=bmp.search: search("bmp", q, k) for q in prepared[:n]])
        row = {"engine": "bmp", "k": k, "search": "alpha = beta = 1", "queries": n}
        rows.append(row | {"cpu_p50_ms": round(float(np.median(cpu)), 3)})
        print(rows[-1], file=sys.stderr, flush=True)
    bmp.path.unlink()
    bmp.searcher = None  # its index out of memory before the collection comes in
    gc.collect()
    docs = SparseVectors.load(docs_path).to_csr()
    timed = queries.to_csr()[:n_timed]
    for row in rows:  # rescored from the collection: true dot products of the returned documents
        k, n = row["k"], row["queries"]
        doc_idx, scores = np.full((n, k), -1, np.int64), np.zeros((n, k), np.int64)
        for i, returned in enumerate(found[k]):
            doc_idx[i, : len(returned)] = returned
            scores[i, : len(returned)] = (
                (docs[returned].astype(np.int64) @ timed[i].T.astype(np.int64)).toarray().ravel()
            )
        want = (exact[k][0][:n], exact[k][1][:n])
        row[f"recall@{k}"] = round(float(np.nanmean(recall_at_k(want, (doc_idx, scores)))), 4)
    return rows, build_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=MSMARCO_DOCS)
    parser.add_argument("--queries", type=int, default=1000, help="timed queries (the first ones)")
    parser.add_argument("--threads", type=int, default=2, help="the peers' build threads")
    parser.add_argument("--work", type=Path, help="scale.py's folder (default: benchmarks/.cache/scale-<docs>)")
    parser.add_argument("--peers", default="seismic,bmp", help="comma-separated: seismic, bmp")
    parser.add_argument("--bmp-k1000-queries", type=int, default=100, help="of the timed queries, BMP's at k = 1,000")
    args = parser.parse_args()
    chosen = args.peers.split(",")
    if unknown := set(chosen) - {"seismic", "bmp"}:
        parser.error(f"unknown peers: {sorted(unknown)}")

    work = args.work or ROOT / "benchmarks" / ".cache" / f"scale-{args.docs}"
    quantized = work / "results" / "quantize" / "synthetic" / "synthetic" / "pretrained"
    docs_path = quantized / "docs.npz"
    queries = SparseVectors.load(quantized / "queries.npz")
    csr = queries.to_csr()
    timed, held_out = csr[: args.queries], csr[args.queries : args.queries + CALIBRATION_QUERIES]
    peers = work / "peers"
    peers.mkdir(exist_ok=True)
    ours = InvertedIndex.load(work / "bp" / "index.bin")
    exact = {k: ours.search(timed, k=k, algorithm="exhaustive", threads=2) for k in (10, 1000)}
    exact_held_out = ours.search(held_out, k=K, algorithm="exhaustive", threads=2)
    out = {"docs": args.docs, "timed_queries": args.queries, "calibration_queries": CALIBRATION_QUERIES,
           "ours_index_mb": round((work / "bp" / "index.bin").stat().st_size / 2**20, 1),
           "rows": ours_rows(ours, timed, exact)}  # fmt: skip
    path = ROOT / "benchmarks" / "results" / f"scale-peers-{args.docs}.json"
    write_json(path, out)  # after each engine, so that a later failure keeps what was measured
    if "seismic" in chosen:
        rows, out["seismic_builds"] = seismic_rows(
            docs_path, timed, held_out, exact, exact_held_out, args.threads, peers
        )
        out["rows"] += rows
        write_json(path, out)
        gc.collect()
    if "bmp" in chosen:
        n_k1000 = min(args.bmp_k1000_queries, args.queries)
        rows, out["bmp_build"] = bmp_rows(docs_path, queries, args.queries, n_k1000, exact, peers)
        out["rows"] += rows
        write_json(path, out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
