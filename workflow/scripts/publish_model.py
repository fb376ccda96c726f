"""Rule publish_model (Snakemake's `script:`): a fine-tuned model copied as a hub-ready folder,
its card's metadata holding the study's figures for it. Ids and collection names come from the
study planner as Python values. A bad input ends the job with exit 2 and one line in its log."""

import sys
from contextlib import redirect_stderr, redirect_stdout

from splade_core.errors import SpladeError
from splade_core.train.card import publish_model

with open(snakemake.log[0], "w") as log, redirect_stdout(log), redirect_stderr(log):  # noqa: F821
    rule = snakemake  # noqa: F821
    try:
        results = publish_model(
            rule.input.model,
            rule.output[0],
            list(rule.input.summaries),
            rule.wildcards.model,
            rule.wildcards.setting,
            rule.params.dataset_ids,
        )
        print(f"{rule.output[0]}: model card with {results} result(s) of the study")
    except (SpladeError, ValueError, OSError) as exc:
        print(f"publish_model: error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2)
