"""The study planner (splade_core.study) on configs checked by the workflow's schema, without
running Snakemake: typed tables looked up by id, the stage-first layout, and the checks the
schema cannot make, each a one-line "invalid config" error."""

import copy
import re
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from splade_core.study import LAYOUT, ConfigError, Study

REPO = Path(__file__).parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
TINY = f"{REPO / 'tests' / 'data' / 'tiny-beir'}:test"


def checked(**changes) -> dict:
    """The .test study's config with `changes`, defaults filled in as the workflow does."""
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    config["datasets"]["tiny"]["collection"] = config["training"]["train_data"] = TINY
    config["report"], config["results"] = {}, "results"
    config.update(copy.deepcopy(changes))
    validate(config, str(SCHEMA), set_default=True)
    return config


def test_settings_and_prunings_are_typed_tables_looked_up_by_id():
    study = Study.from_config(checked())
    assert [(s.id, s.lq, s.ld) for s in study.settings_of("splade-tiny")] == [
        ("pretrained", None, None),
        ("lq=0.001_ld=0.001", 0.001, 0.001),
        ("lq=0.1_ld=0.1", 0.1, 0.1),
    ]
    assert study.setting("lq=0.1_ld=0.1").lq == 0.1 and not study.setting("pretrained").fine_tuned
    pruning = study.pruning("agnostic-60")
    assert (pruning.method, pruning.value) == ("agnostic", 60) and isinstance(pruning.value, int)
    with pytest.raises(Exception, match=r"'document-7' is no pruning of this study's config"):
        study.pruning("document-7")


def test_rows_cover_every_model_setting_and_pruning_then_bm25():
    study = Study.from_config(checked())
    rows = study.rows("tiny")
    assert len(rows) == 3 * 4 + 1 and rows[-1].is_bm25
    labels = {"dataset": "tiny", "model": "splade-tiny", "setting": "pretrained", "prune": "none", "search": "exact"}
    assert rows[0].labels() == labels
    assert (rows[4].setting.lq, rows[4].setting.ld) == (0.001, 0.001) and not rows[0].setting.fine_tuned
    only_pretrained = Study.from_config(checked(pruning={"document": [16], "settings": "pretrained"}))
    assert [r.labels()["prune"] for r in only_pretrained.rows("tiny")[:-1]] == ["none", "document-16", "none", "none"]
    assert study.calibration_dataset("tiny") is None  # exact search only: no index is calibrated


def test_approximate_presets_add_rows_and_calibrate_each_corpus_with_its_first_dataset():
    study = Study.from_config(checked(retrieval={"approximate": ["approx-95", "approx-99"]}))
    rows = study.rows("tiny")
    assert len(rows) == 3 * 4 * 3 + 1
    assert [r.labels()["search"] for r in rows[:3]] == ["exact", "approx-95", "approx-99"]
    assert {r.labels()["prune"] for r in rows[:3]} == {"none"}
    assert study.calibration_dataset("tiny") == "tiny"
    assert study.baseline_labels()["search"] == "exact"


def test_the_baseline_is_the_first_pretrained_model_unpruned_or_the_named_row():
    assert Study.from_config(checked()).baseline_labels() == {
        "model": "splade-tiny",
        "setting": "pretrained",
        "prune": "none",
        "search": "exact",
    }
    named = checked(report={"baseline": {"model": "splade-tiny", "setting": "lq=0.1_ld=0.1", "prune": "term-10"}})
    assert Study.from_config(named).baseline_labels()["prune"] == "term-10"
    assert Study.from_config(checked(report={"baseline": {"model": "bm25"}})).baseline_labels() == {"model": "bm25"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"lambdas": [{"lq": 0.001, "ld": 0.001}, {"lq": 1e-3, "ld": 0.001}]},
            "lambdas: two entries are the setting lq=0.001_ld=0.001",
        ),
        ({"models": {"bm25": {"path": "bundled/splade-tiny"}}}, "models.bm25: bm25 names the BM25 rows"),
        ({"pruning": {"agnostic": [300]}}, "pruning.agnostic: "),
        ({"encoding": {"tf32": True}}, "encoding.tf32: applies to precision fp32 on a cuda device"),
        ({"report": {"baseline": {"model": "other"}}}, "report.baseline.model: 'other' is neither a model"),
        (
            {"report": {"baseline": {"model": "splade-tiny", "prune": "term-99"}}},
            "report.baseline.prune: 'term-99' is not one of",
        ),
        ({"training": {"train_data": TINY, "batch_size": 3, "processes": 2}}, "invalid config: training: "),
    ],
)
def test_what_the_schema_cannot_say_stops_the_plan_with_one_line(changes, message):
    with pytest.raises(ConfigError) as error:
        Study.from_config(checked(**changes))
    assert str(error.value).startswith("invalid config: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_stage_first_layout_keeps_any_dataset_or_model_name_in_its_stage():
    """Every artefact lives under a stage folder named by a constant, so a dataset called
    `models` or a model called `index` is one more folder inside a stage, never a stage."""
    stages = {pattern.split("/")[0] for pattern in LAYOUT.values()}
    assert all("{" not in stage for stage in stages)
    study = Study.from_config(
        checked(datasets={"models": {"collection": TINY}}, models={"index": {"path": "bundled/splade-tiny"}})
    )
    names = {"dataset": "models", "corpus": "models", "model": "index", "setting": "pretrained", "prune": "none"}
    names["search"] = "exact"
    paths = {}
    for name, pattern in LAYOUT.items():
        values = {key: names.get(key, "x") for key in re.findall(r"\{(\w+)\}", pattern)}
        paths[name] = study.path(name, **values)
    assert len(set(paths.values())) == len(paths)
    assert paths["metrics"] == "results/evaluate/models/index/pretrained/none/exact/metrics.json"
    assert paths["index"] == "results/index/models/index/pretrained/none/index.bin"


def test_results_must_be_a_folder_of_their_own():
    with pytest.raises(ConfigError, match=r"^invalid config: results: '\.' holds the source tree"):
        Study.from_config({**checked(), "results": "."}, source=Path.cwd())
    with pytest.raises(ConfigError, match=r"^invalid config: resources: '/' is the file-system root"):
        Study.from_config({**checked(), "resources": "/"})
    assert Study.from_config(checked(), source=REPO).results == "results"  # inside the repository: fine


def test_datasets_naming_one_corpus_read_one_set_of_documents():
    datasets = {"a": {"collection": TINY}, "b": {"collection": "bundled/scifact", "corpus": "a"}}
    with pytest.raises(ConfigError, match=r"datasets\.b\.corpus: 'a' is also the corpus of dataset 'a'"):
        Study.from_config(checked(datasets=datasets))
    shared = {"a": {"collection": TINY}, "b": {"collection": TINY.replace(":test", ":dev"), "corpus": "a"}}
    assert Study.from_config(checked(datasets=shared)).corpus_of("b") == "a"  # splits of one folder


def test_training_on_an_evaluated_datasets_queries_needs_saying_so():
    overlap = checked()
    overlap["training"]["allow_eval_overlap"] = False
    with pytest.raises(ConfigError, match=r"is the collection of dataset 'tiny', which the study evaluates"):
        Study.from_config(overlap)
    assert Study.from_config(checked()).trains()  # .test says allow_eval_overlap: true
