"""Screenshots of a study's Snakemake report in headless Chromium, one per view: the summary
table, each plot, the per-rule times, the config, and a result's caption.

    snakemake --report report.html
    python benchmarks/report_screenshots.py report.html /tmp/report-shots

The report is a single-page app: each view is a copy of the report that opens that view once
it has loaded (through the app's own `setView`), shot with `chromium --headless --screenshot`.
Needs `chromium` (Debian: `apt-get install chromium`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

# view name -> (file name of the result, what the app shows: its content or its caption)
VIEWS = {
    "summary-table": ("summary.html", "content"),
    "summary-caption": ("summary.html", "caption"),
    "effectiveness-vs-flops": ("effectiveness_vs_flops.png", "content"),
    "effectiveness-vs-latency": ("effectiveness_vs_latency.png", "content"),
    "pruning": ("pruning.png", "content"),
    "benchmarks": ("benchmarks.html", "content"),
    "config": ("config.html", "content"),
}

OPEN_VIEW = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const path = Object.keys(results).find((p) => p.endsWith("/" + NAME));
  const [category, subcategories] = Object.entries(categories).find(([, subs]) =>
    Object.values(subs).some((paths) => paths.includes(path)));
  const subcategory = Object.keys(subcategories).find((s) => subcategories[s].includes(path));
  const entry = results[path];
  const kind = entry.mime_type.startsWith("image/") ? "img" : "html";
  if (WHAT === "caption") {
    app.setView({navbarMode: "resultinfo", category, subcategory, resultPath: path});
  } else {
    app.setView({navbarMode: "subcategory", category, subcategory, content: kind,
                 contentPath: entry.data_uri, resultPath: path});
  }
}, 300));
</script>
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    raise SystemExit("no chromium on PATH (Debian: apt-get install chromium)")


def _run_on_view(report: Path, name: str, what: str, flags: list[str]) -> str:
    """Chromium's stdout on a copy of `report` that opens the view of result `name`."""
    html = report.read_text()
    script = OPEN_VIEW.replace("NAME", json.dumps(name)).replace("WHAT", json.dumps(what))
    end = html.rindex("</body>")
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "report.html"
        page.write_text(html[:end] + script + html[end:])
        command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        command += ["--virtual-time-budget=15000", *flags, page.as_uri()]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=180).stdout


def screenshot(report: Path, name: str, what: str, target: Path, size: str = "1600,1000") -> Path:
    _run_on_view(report, name, what, [f"--window-size={size}", f"--screenshot={target}"])
    return target


def rendered_dom(report: Path, name: str, what: str = "content") -> str:
    """The page's DOM once the app shows the view (e.g. the iframe of an HTML result)."""
    return _run_on_view(report, name, what, ["--dump-dom"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the HTML report of `snakemake --report`")
    parser.add_argument("output_dir", type=Path, help="receives one PNG per view")
    args = parser.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for view, (name, what) in VIEWS.items():
        print(screenshot(args.report, name, what, args.output_dir / f"{view}.png"))


if __name__ == "__main__":
    main()
