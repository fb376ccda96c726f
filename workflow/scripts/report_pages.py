"""Report glue of rule `tabulate_benchmarks` (Snakemake's `script:`): the time of every rule from
its `benchmark:` files, and the config as validated (defaults filled in), as two HTML pages of
the report. Snakemake's benchmark columns: `s` wall-clock seconds, `cpu_time`, `max_rss` MB."""

import html
from pathlib import Path

import pandas as pd
import yaml

from splade_core.evaluate.aggregate import html_page


def benchmark_table(folder: Path) -> pd.DataFrame:
    """Per rule, its jobs and seconds, the costliest rule first, then a total row."""
    records = []
    for path in sorted(folder.rglob("*.tsv")):
        times = pd.read_csv(path, sep="\t").apply(pd.to_numeric, errors="coerce")
        if "s" not in times:
            continue
        records.append(
            {
                "rule": path.relative_to(folder).parts[0],
                "s": times["s"].mean(),
                "cpu_s": times.get("cpu_time", pd.Series(dtype=float)).mean(),
                "max_rss_mb": times.get("max_rss", pd.Series(dtype=float)).max(),
            }
        )
    jobs = pd.DataFrame(records, columns=["rule", "s", "cpu_s", "max_rss_mb"])
    table = jobs.groupby("rule").agg(
        jobs=("s", "size"),
        total_s=("s", "sum"),
        mean_s=("s", "mean"),
        max_s=("s", "max"),
        cpu_s=("cpu_s", "sum"),
        max_rss_mb=("max_rss_mb", "max"),
    )
    table = table.sort_values("total_s", ascending=False).reset_index()
    total = {"rule": "all rules", "jobs": len(jobs), "total_s": jobs["s"].sum()}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def main(smk) -> None:
    table = benchmark_table(Path(smk.params.benchmarks))
    body = table.to_html(index=False, border=0, na_rep="", float_format="{:.1f}".format)
    Path(smk.output.benchmarks).write_bytes(html_page("Time per rule (benchmark files)", body))
    source = yaml.safe_dump(dict(smk.params.config), sort_keys=False, allow_unicode=True)
    files = ", ".join(smk.params.configfiles) or "the embedded default"
    body = f"<p>{html.escape(files)}, as validated:</p><pre>{html.escape(source)}</pre>"
    Path(smk.output.config).write_bytes(html_page("Configuration", body))
    Path(smk.log[0]).write_text(table.to_string(index=False) + "\n")


main(snakemake)  # noqa: F821 (Snakemake's script object)
