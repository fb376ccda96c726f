# Expected figures, verified (`snakemake verify`): each dataset's summary against the YAML that
# `report.expected` names, within its tolerances. The file is checked when the plan is made.
from splade_core.evaluate.verify import read_expected


def expected_file(path):
    """`path` from the working directory; else, if relative, from the repository root, where
    the shipped configs' files are (a study run with --directory elsewhere finds them).
    """
    if path is None or os.path.isabs(path) or os.path.exists(path):
        return path
    shipped = Path(workflow.basedir).parent / path
    return str(shipped) if shipped.exists() else path


EXPECTED = expected_file(config["report"]["expected"])
if EXPECTED is not None:
    try:
        read_expected(EXPECTED)
    except SpladeError as exc:
        sys.exit(f"invalid config: report.expected: {' '.join(str(exc).split())}")


def all_verifications():
    """One verify file per dataset; with no expected file, an exit naming the key."""
    if EXPECTED is None:
        sys.exit(
            "invalid config: report.expected: names no file of expected figures, so `snakemake verify`"
            " would check nothing"
        )
    return [path("verify", dataset=dataset) for dataset in STUDY.datasets]


rule verify_results:
    input:
        summary=rules.aggregate_results.output.csv,
        expected=EXPECTED or [],
    output:
        path("verify"),
    log:
        STUDY.log("verify_results", "{dataset}"),
    localrule: True
    shell:
        "splade verify --summary {input.summary} --expected {input.expected:q}"
        " --dataset {wildcards.dataset:q} --output {output} > {log} 2>&1"
