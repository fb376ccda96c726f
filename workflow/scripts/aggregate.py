"""Rule aggregate_results (Snakemake's `script:`): a dataset's summary tables and plots. The λs of
each fine-tuned setting come from the study planner as Python values, by setting id (the row's
`setting` label); nothing is parsed back from a label or a path. A bad input ends the
job with exit 2 and one line in its log, as `splade aggregate` does."""

import sys
from contextlib import redirect_stderr, redirect_stdout

from splade_core.errors import SpladeError
from splade_core.evaluate.aggregate import summarize, write_summary
from splade_core.evaluate.significance import Significance


def aggregate(input, params) -> None:
    significance = Significance(params.baseline, params.test, params.alpha, params.metric)
    frame = summarize(list(input.metrics), list(input.per_query), significance, params.lambdas)
    paths = write_summary(frame, params.output_dir, params.metric, significance)
    print(paths["md"].read_text())


with open(snakemake.log[0], "w") as log, redirect_stdout(log), redirect_stderr(log):  # noqa: F821
    try:
        aggregate(snakemake.input, snakemake.params)  # noqa: F821
    except (SpladeError, ValueError, OSError) as exc:
        print(f"aggregate_results: error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2)
