"""Results tables and plots of a study: one row per (model, λq, λd, pruning) of a dataset, and
with per-query files, paired significance tests of each row against a baseline row."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import SpladeError
from ..io import atomic_path, read_json
from ..registry import EXACT_SEARCHES, STUDY_PRUNING_METHODS
from .metrics import DEFAULT_METRICS, format_columns, format_table, read_per_query
from .significance import MARK, OUTCOMES, Significance, compare_to_baseline, p_column

COLUMNS = [
    "model", "setting", "lq", "ld", "prune", "search", "MRR@10", "nDCG@10", "R@100", "R@1000", "flops",
    "avg_query_nnz", "avg_doc_nnz", "postings", "index_bytes", "latency_p50_ms", "latency_p99_ms", "qps",
    "training_s", "encoding_s",
]  # fmt: skip


def summary_row(result: dict, settings: dict[str, dict] | None = None) -> dict:
    """Flatten one `splade evaluate` output into a table row; `settings` maps a setting id (the
    row's `setting` label) to typed columns its labels do not carry (the study gives each
    fine-tuned setting's λs as lq and ld)."""
    labels = result.get("labels", {})
    retrieval = result.get("attached", {})
    row = {key: labels.get(key, "") for key in ("dataset", "model", "setting", "prune", "search")}
    row.update((settings or {}).get(row["setting"], {}))
    row.update(result["metrics"])
    row.update(result.get("vs_exact", {}))
    row.update(result.get("sparsity", {}))
    for key in ("index_bytes", "latency_p50_ms", "latency_p99_ms", "qps"):
        if key in retrieval:
            row[key] = retrieval[key]
    row.update(result.get("timings", {}))
    return row


def summarize(
    metric_files: list[str | os.PathLike],
    per_query_files: list[str | os.PathLike] | None = None,
    significance: Significance | None = None,
    settings: dict[str, dict] | None = None,
) -> pd.DataFrame:
    """One row per metrics file (COLUMNS), in the order given (the workflow gives its config's:
    models, then pretrained and each λ setting, then no pruning and each pruning value), the
    baseline row first. With `significance`, the columns of its paired tests
    follow (`significance.columns()`), from `per_query_files`: the i-th is the per-query file
    of the i-th metrics file (`splade evaluate --per-query`). `settings` adds typed columns by
    setting id (see summary_row)."""
    results = [read_json(path) for path in metric_files]
    frame = pd.DataFrame([summary_row(result, settings) for result in results])
    columns = [c for c in ["dataset", *table_columns(frame)] if c in frame.columns]
    if (per_query_files is None) != (significance is None):
        raise ValueError("per-query files and a baseline go together")
    if significance is not None:
        if len(per_query_files) != len(metric_files):
            raise SpladeError(
                f"{len(metric_files)} metrics files but {len(per_query_files)} per-query files: one per row, in order"
            )
        per_query = [read_per_query(path) for path in per_query_files]
        tests = compare_to_baseline(per_query, [result.get("labels", {}) for result in results], significance)
        frame, columns = pd.concat([frame, tests], axis=1), [*columns, *significance.columns()]
        frame = frame.sort_values("baseline", ascending=False, kind="stable")
    return frame[columns].reset_index(drop=True)


def table_columns(frame: pd.DataFrame) -> list[str]:
    """COLUMNS that `frame` has, with the recall-against-exact columns of approximate rows
    ("R@10 vs exact", "R@<depth> vs exact") after the metrics."""
    vs_exact = [c for c in frame.columns if c.endswith(" vs exact")]
    vs_exact.sort(key=lambda c: int(c.split()[0].removeprefix("R@")))
    columns = [c for c in COLUMNS if c in frame.columns]
    at = columns.index("R@1000") + 1 if "R@1000" in columns else len(columns)
    return [*columns[:at], *vs_exact, *columns[at:]]


def pareto_front(frame: pd.DataFrame, cost: str, metric: str) -> pd.Series:
    """True for rows no other row beats on both lower cost and higher effectiveness."""

    def dominated(row) -> bool:
        better = (frame[cost] <= row[cost]) & (frame[metric] >= row[metric])
        strictly = (frame[cost] < row[cost]) | (frame[metric] > row[metric])
        return bool((better & strictly).any())

    return frame.apply(lambda row: not dominated(row), axis=1)


def write_summary(
    frame: pd.DataFrame,
    output_dir: str | os.PathLike,
    metric: str = "nDCG@10",
    significance: Significance | None = None,
) -> dict[str, Path]:
    """summary.csv, summary.md and plots/*.png in `output_dir`. With `significance` (and its
    columns in `frame`), summary.md marks the values that differ from the baseline's, adds a
    W/T/L column and says under the table how rows were tested."""
    if metric not in DEFAULT_METRICS:
        raise ValueError(f"metric must be one of {list(DEFAULT_METRICS)}, not {metric!r}")
    output_dir = Path(output_dir)
    paths = {"csv": output_dir / "summary.csv", "md": output_dir / "summary.md"}
    with atomic_path(paths["csv"]) as tmp:
        frame.to_csv(tmp, index=False)
    columns = table_columns(frame)
    records = format_columns(frame[columns].astype(object).fillna("").to_dict("records"), columns)
    legend = ""
    if significance is not None:
        columns.append(_mark_significance(frame, records, significance))
        legend = "\n" + significance.legend(frame) + "\n"
    title = f"# {frame['dataset'].iloc[0]}: results\n\n" if "dataset" in frame and len(frame) else ""
    with atomic_path(paths["md"]) as tmp:
        tmp.write_text(title + format_table(records, columns) + "\n" + legend)
    paths["html"] = _write_html(output_dir / "summary.html", title, records, columns, legend)
    paths.update(plot_summary(frame, output_dir / "plots", metric))
    return paths


HTML_STYLE = (
    "body{font:13px sans-serif;margin:12px}table{border-collapse:separate;border-spacing:0}"
    "th,td{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap;background:#fff}"
    "th{background:#f3f3f3;position:sticky;top:0}tr:nth-child(even) td{background:#fafafa}"
    # a wide table scrolls inside its frame, its first two columns (model, setting) pinned
    ".scroll{overflow:auto;max-width:100%;max-height:85vh}"
    ".scroll th:nth-child(-n+2),.scroll td:nth-child(-n+2){position:sticky;text-align:left;z-index:1}"
    ".scroll th:nth-child(-n+2){z-index:2}"
    ".scroll th:nth-child(1),.scroll td:nth-child(1){left:0;width:9em;min-width:9em;max-width:9em;"
    "overflow:hidden;text-overflow:ellipsis;box-sizing:border-box}"
    ".scroll th:nth-child(2),.scroll td:nth-child(2){left:9em}"
)


def html_page(title: str, body: str) -> bytes:
    """A standalone page of the report: `title` as its heading, then `body` (HTML). ASCII, with
    character references, so markers such as † survive the report's data URIs."""
    import html

    heading = f"<h2>{html.escape(title)}</h2>" if title else ""
    page = f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{HTML_STYLE}</style></head>"
    return (page + f"<body>{heading}{body}</body></html>\n").encode("ascii", "xmlcharrefreplace")


def _write_html(path: Path, title: str, records: list[dict], columns: list[str], legend: str) -> Path:
    """summary.md's table (markers and W/T/L included) as a standalone HTML page, for the report."""
    import html

    table = pd.DataFrame([{c: r.get(c, "") for c in columns} for r in records], columns=columns)
    body = f"<div class='scroll'>{table.to_html(index=False, border=0)}</div>"
    paragraphs = [paragraph.strip() for paragraph in legend.split("\n\n") if paragraph.strip()]
    body += "".join(f"<p>{html.escape(paragraph)}</p>" for paragraph in paragraphs)
    with atomic_path(path, suffix=".html") as tmp:
        tmp.write_bytes(html_page(title.strip("# ").strip(), body))
    return path


def _mark_significance(frame: pd.DataFrame, records: list[dict], significance: Significance) -> str:
    """Append MARK to the metric cells whose corrected p-value is below α and fill a W/T/L
    column ('baseline' on the baseline's row); returns that column's name."""
    column = f"W/T/L {significance.metric}"
    counts = frame[[f"{kind}_{significance.metric}" for kind in OUTCOMES]]
    for number, record in enumerate(records):
        for metric in DEFAULT_METRICS:
            if metric in record and frame[p_column(metric)].iloc[number] < significance.alpha:
                record[metric] += MARK
        row = counts.iloc[number]
        if row.notna().all():
            record[column] = "/".join(str(int(count)) for count in row)
        elif frame["baseline"].iloc[number]:
            record[column] = "baseline"
    return column


def vector_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of sparse vectors, which the plots show: those with postings or FLOPS (a BM25
    row has neither, so it is in the tables only); all rows when no row was given vectors."""
    sparsity = [column for column in ("postings", "flops") if column in frame]
    return frame[frame[sparsity].notna().any(axis=1)] if sparsity else frame


# How the latency plot marks a row: the full index searched exactly, a pruned index, or an
# approximate preset (of either).
ROW_KINDS = {"full index": "o", "static pruning": "s", "approximate search": "^"}


MAX_LABELLED_POINTS = 12
LABEL_SIZE = 7  # points
LABEL_GAP = 8.5  # points between the baselines of two labels that would overlap


def approximate(row) -> bool:
    return str(row.get("search", "")) not in EXACT_SEARCHES


def row_kind(row) -> str:
    if approximate(row):
        return "approximate search"
    return "full index" if row["prune"] == "none" else "static pruning"


def plot_summary(frame: pd.DataFrame, plot_dir: Path, metric: str) -> dict[str, Path]:
    """The trade-off plots — effectiveness against FLOPS (unpruned rows searched exactly) and
    against latency (every row: full index, static pruning and approximate search marked apart)
    — and the pruning plot (exact rows), each titled with its dataset, with the BM25 row and the
    baseline row (when rows were tested against one) as reference lines."""
    import matplotlib

    matplotlib.use("Agg")
    vectors = vector_rows(frame)
    if len(vectors):
        vectors = vectors.assign(kind=vectors.apply(row_kind, axis=1))
    else:
        vectors = vectors.assign(kind=pd.Series(dtype=str))
    exact = vectors[vectors["kind"] != "approximate search"]
    unpruned = exact[exact["kind"] == "full index"]
    references = _references(frame, metric)
    dataset = str(frame["dataset"].iloc[0]) if "dataset" in frame and len(frame) else ""
    paths = {
        "flops": _tradeoff_plot(unpruned, "flops", "FLOPS (expected multiplications per query-document pair)",
                                metric, plot_dir / "effectiveness_vs_flops.png", dataset, references),
        "latency": _tradeoff_plot(vectors, "latency_p50_ms", "median query latency (ms, 1 thread)",
                                  metric, plot_dir / "effectiveness_vs_latency.png", dataset, references),
        "pruning": _pruning_plot(exact, metric, plot_dir / "pruning.png", dataset, references),
    }  # fmt: skip
    return paths


def _references(frame: pd.DataFrame, metric: str) -> list[tuple[str, float, str]]:
    """(label, value, line style) of the rows the plots draw as horizontal lines: BM25's, and
    the baseline's when it is another row."""
    lines = []
    bm25 = frame[frame["model"] == "bm25"] if metric in frame else frame.iloc[0:0]
    if len(bm25):
        lines.append(("BM25", float(bm25[metric].iloc[0]), ":"))
    if "baseline" in frame and metric in frame:
        baseline = frame[frame["baseline"].astype(bool) & (frame["model"] != "bm25")]
        if len(baseline):
            row = baseline.iloc[0]
            lines.append((f"baseline ({row['model']} {row['setting']}, {row['prune']})", float(row[metric]), "--"))
    return lines


def _draw_references(ax, references: list[tuple[str, float, str]]) -> None:
    for label, value, style in references:
        ax.axhline(value, color="grey", linestyle=style, lw=1, label=label, zorder=1)


def _tradeoff_plot(
    frame: pd.DataFrame, cost: str, cost_label: str, metric: str, path: Path, dataset: str, references: list
) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    data = frame.dropna(subset=[cost, metric]) if cost in frame else frame.iloc[0:0]
    if len(data):
        front = pareto_front(data, cost, metric)
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        labels = []
        kinds = data["kind"].unique()
        for number, (model, group) in enumerate(data.groupby("model", sort=False)):
            colour = colours[number % len(colours)]
            ax.scatter([], [], color=colour, label=model)  # the legend's colour of the model
            for kind, marker in ROW_KINDS.items():
                points = group[group["kind"] == kind]
                ax.scatter(points[cost], points[metric], color=colour, marker=marker, zorder=3)
            # every point labelled while they are few; past that only the Pareto front's
            labelled = group if len(data) <= MAX_LABELLED_POINTS else group[front[group.index]]
            labels += [(row[cost], row[metric], _point_label(row)) for _, row in labelled.iterrows()]
        if len(kinds) > 1:  # marker shapes, in grey, when the plot mixes kinds of rows
            for kind, marker in ROW_KINDS.items():
                if kind in kinds:
                    ax.scatter([], [], color="grey", marker=marker, label=kind)
        best = data[front].sort_values(cost)
        if len(best) > 1:
            ax.plot(best[cost], best[metric], "k--", lw=1, label="Pareto front", zorder=2)
        else:  # one setting dominates: ring it (a one-point line draws nothing beside its label)
            ring = {"s": 180, "facecolors": "none", "edgecolors": "k"}
            ax.scatter(best[cost], best[metric], **ring, label="Pareto front", zorder=2)
        _draw_references(ax, references)
        _place_labels(ax, labels)
        ax.legend(fontsize=8)
    ax.set_title(f"{dataset}: {metric} against {cost_label.split(' (')[0]}" if dataset else "", fontsize=10)
    ax.set_xlabel(cost_label)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _place_labels(ax, labels: list[tuple[float, float, str]]) -> None:
    """Writes each (x, y, text) label right of its point, taking them from the top down and moving
    a label down just below any label already placed whose extent it would overlap (the width of
    a label estimated from its length); a moved label gets a thin line to its point."""
    ax.autoscale_view()
    to_points = 72.0 / ax.figure.dpi
    placed: list[tuple[float, float, float]] = []  # (left, right, baseline) in points
    for x, y, text in sorted(labels, key=lambda label: (-label[1], label[0])):
        px, py = ax.transData.transform((x, y)) * to_points
        left, right = px + 4, px + 4 + 0.55 * LABEL_SIZE * len(text)
        baseline, moving = py + 3, True
        while moving:  # a label moved below one may now meet another: until none overlaps
            moving = False
            for other_left, other_right, other_baseline in placed:
                if left < other_right and other_left < right and abs(baseline - other_baseline) < LABEL_GAP:
                    baseline, moving = other_baseline - LABEL_GAP, True
        placed.append((left, right, baseline))
        moved = baseline < py + 3 - 1
        ax.annotate(text, (x, y), fontsize=LABEL_SIZE, xytext=(4, baseline - py), textcoords="offset points",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "grey"} if moved else None)  # fmt: skip


def _point_label(row) -> str:
    """A point's annotation: its setting, and its pruning or preset when it has one."""
    parts = [row["setting"]]
    if row.get("prune", "none") != "none":
        parts.append(row["prune"])
    if approximate(row):
        parts.append(row["search"])
    return " ".join(parts)


def _pruning_plot(frame: pd.DataFrame, metric: str, path: Path, dataset: str, references: list) -> Path:
    """One panel per pruning method; one line (colour) per model setting, from the full index
    (fraction 1) down to the strongest pruning value, each pruned point labelled with its value."""
    import matplotlib.pyplot as plt

    methods = STUDY_PRUNING_METHODS
    fig, axes = plt.subplots(1, len(methods), figsize=(11, 3.8), sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    with_full_index = frame.groupby(["model", "setting"], sort=False).filter(lambda g: (g["prune"] == "none").any())
    groups = with_full_index.groupby(["model", "setting"], sort=False) if "postings" in frame else []
    for number, ((model, setting), group) in enumerate(groups):
        full = group[group["prune"] == "none"]
        total = float(full["postings"].iloc[0]) or 1.0
        for ax, method in zip(axes, methods):
            pruned = group[group["prune"].str.startswith(method + "-")]
            if pruned.empty:
                continue
            points = pd.concat([full, pruned])
            points = points.assign(kept=points["postings"] / total).sort_values("kept")
            colour = colours[number % len(colours)]
            ax.plot(points["kept"], points[metric], marker="o", color=colour, label=f"{model} {setting}")
            for _, row in pruned.iterrows():
                value = row["prune"].removeprefix(method + "-")
                ax.annotate(value, (row["postings"] / total, row[metric]), fontsize=7, color=colour,
                            xytext=(3, 3), textcoords="offset points")  # fmt: skip
    for ax, method in zip(axes, methods):
        _draw_references(ax, references)
        ax.set_title(f"{method}-centric" if method != "agnostic" else "agnostic", fontsize=10)
        ax.set_xlabel("fraction of postings kept")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(metric)
    if dataset:
        fig.suptitle(f"{dataset}: static pruning ({metric} against the postings kept)", fontsize=11)
    handles, labels = next(((ax.get_legend_handles_labels()) for ax in axes if ax.lines), ([], []))
    if handles:
        axes[-1].legend(handles, labels, fontsize=7)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path
