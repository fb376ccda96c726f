"""The study a workflow config describes, as typed tables that the rules look values up in by id.

`Study.from_config` takes a config that the workflow's schema has checked (defaults filled in),
checks what the schema cannot say, and gives: each model's settings (id -> λq, λd), each
setting's prunings (id -> method, value), the rows of every dataset's summary, the baseline row,
the inputs the download stage fetches, and pre-encoded models' files. A value is looked up by its
id and never recovered from a path or a label. `LAYOUT` is where each artefact lives under the
results folder: stage first (`results/{stage}/{dataset|corpus}/{model}/{setting}/...`), so no
dataset or model name can reach into another stage's tree.
"""

from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..data import download as downloads
from ..data.collections import has_judgments
from ..errors import SpladeError
from ..formats import detect_format
from ..mine.config import MineConfig, default_teacher
from ..registry import BUNDLED_MODEL, EXACT_SEARCH, STUDY_PRUNING_METHODS, local_path
from ..sparse.prune import agnostic_problem
from ..sparse.quantize import scale_problem
from ..train.config import TrainConfig

PRETRAINED = "pretrained"  # the setting of a model evaluated as it is
NO_PRUNING = "none"
EXACT = EXACT_SEARCH  # the search of a row run by the index's fastest exact algorithm (else a preset's name)
BM25 = "bm25"  # the model label of a dataset's BM25 row
# Keys of the config's `training` section that the study reads and `splade train` does not.
STUDY_TRAINING_KEYS = ("allow_eval_overlap",)

# Artefacts by name -> path under the results folder; {names} are Snakemake wildcards.
LAYOUT = {
    "examples": "mine/{model}/examples.jsonl",
    "model": "train/{model}/{setting}/model",
    "run_dir": "train/{model}/{setting}/run-{digest}",
    "docs_shard": "encode/{corpus}/{model}/{setting}/docs.shard{shard}.npz",
    "docs": "encode/{corpus}/{model}/{setting}/docs.npz",
    "queries": "encode/{dataset}/{model}/{setting}/queries.npz",
    "imported_docs": "import/{corpus}/{model}/docs.npz",
    "imported_queries": "import/{dataset}/{model}/queries.npz",
    "quantized_docs": "quantize/{corpus}/{model}/{setting}/docs.npz",
    "quantized_queries": "quantize/{dataset}/{model}/{setting}/queries.npz",
    "pruned_docs": "prune/{corpus}/{model}/{setting}/{prune}/docs.npz",
    "index": "index/{corpus}/{model}/{setting}/{prune}/index.bin",
    "index_stats": "index/{corpus}/{model}/{setting}/{prune}/index.json",
    "run": "retrieve/{dataset}/{model}/{setting}/{prune}/{search}/run.trec",
    "retrieval": "retrieve/{dataset}/{model}/{setting}/{prune}/{search}/retrieval.json",
    "bm25_run": "retrieve/{dataset}/bm25/run.trec",
    "metrics": "evaluate/{dataset}/{model}/{setting}/{prune}/{search}/metrics.json",
    "per_query": "evaluate/{dataset}/{model}/{setting}/{prune}/{search}/perquery.tsv",
    "bm25_metrics": "evaluate/{dataset}/bm25/metrics.json",
    "bm25_per_query": "evaluate/{dataset}/bm25/perquery.tsv",
    "summary": "summary/{dataset}/summary",  # .csv, .md, .html
    "plots": "summary/{dataset}/plots",
    "verify": "verify/{dataset}.txt",
    "export_docs": "export/{corpus}/{model}/{setting}/{prune}/{format}/docs.{ext}",
    "export_queries": "export/{dataset}/{model}/{setting}/anserini/queries.{ext}",
    "hub": "hub/{model}/{setting}",  # a fine-tuned model, its card holding the study's figures
    "report": "report",
    "logs": "logs",
    "benchmarks": "benchmarks",
}


class ConfigError(SpladeError):
    """A config the study cannot run; its message is one line starting "invalid config:"."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"invalid config: {where}: {problem}")


@dataclass(frozen=True)
class Setting:
    """A model setting: the model as it is (no λs), or fine-tuned with FLOPS weights (λq, λd)."""

    id: str
    lq: float | None = None
    ld: float | None = None

    @property
    def fine_tuned(self) -> bool:
        return self.lq is not None

    @classmethod
    def of(cls, entry: dict) -> Setting:
        return cls(f"lq={entry['lq']:g}_ld={entry['ld']:g}", float(entry["lq"]), float(entry["ld"]))


PRETRAINED_SETTING = Setting(PRETRAINED)


@dataclass(frozen=True)
class Pruning:
    """A static pruning of the quantized documents (`splade prune --method --value`), or none."""

    id: str
    method: str | None = None
    value: int | None = None


UNPRUNED = Pruning(NO_PRUNING)


@dataclass(frozen=True)
class Row:
    """One row of a dataset's summary: a model setting with a pruning, searched exactly or by an
    approximate preset of its index; or the BM25 row."""

    dataset: str
    model: str
    setting: Setting | None = None
    pruning: Pruning | None = None
    search: str = EXACT

    @property
    def is_bm25(self) -> bool:
        return self.model == BM25

    def labels(self) -> dict[str, str]:
        """The row's ids, as `splade evaluate --label` records them."""
        if self.is_bm25:
            return {"dataset": self.dataset, "model": BM25, "setting": "-", "prune": NO_PRUNING, "search": EXACT}
        return {
            "dataset": self.dataset,
            "model": self.model,
            "setting": self.setting.id,
            "prune": self.pruning.id,
            "search": self.search,
        }


class Study:
    """The tables of a checked config (see the module docstring); build with `from_config`."""

    def __init__(self, config: dict):
        self.config = config
        self.results = str(config["results"])
        self.resources = str(config["resources"])
        self.datasets: dict[str, dict] = config["datasets"]
        self.models: dict[str, dict] = config["models"]
        self.lambda_settings = [Setting.of(entry) for entry in config["lambdas"]]
        self.prunings = {
            p.id: p
            for p in [
                UNPRUNED,
                *(
                    Pruning(f"{method}-{value}", method, value)
                    for method in STUDY_PRUNING_METHODS
                    for value in config["pruning"][method]
                ),
            ]
        }
        self.settings = {s.id: s for s in [PRETRAINED_SETTING, *self.lambda_settings]}
        self.searches = [EXACT, *config["retrieval"]["approximate"]]
        self.teacher = default_teacher(config["mining"]["teacher"], config["training"]["loss"])

    @classmethod
    def from_config(cls, config: dict, source: str | os.PathLike | None = None) -> Study:
        """The study of a schema-checked config, or ConfigError naming the first problem.
        `source`: the repository the workflow runs from, which the results must not hold."""
        study = cls(config)
        study._check_folders(source)
        study._check_settings()
        study._check_training()
        study._check_ranges()
        study.imports = study._imports()
        study._check_training_data()
        study.downloads = study._downloads()
        study._check_corpora()
        study.baseline = study._baseline()
        return study

    # --- paths ----------------------------------------------------------------------------------

    def path(self, name: str, **values) -> str:
        """Where artefact `name` lives: a Snakemake pattern, or with `values` one concrete path."""
        pattern = f"{self.results}/{LAYOUT[name]}"
        return pattern.format(**values) if values else pattern

    def log(self, rule: str, pattern: str) -> str:
        return f"{self.results}/logs/{rule}/{pattern}.log"

    def benchmark(self, rule: str, pattern: str) -> str:
        return f"{self.results}/benchmarks/{rule}/{pattern}.tsv"

    # --- tables ---------------------------------------------------------------------------------

    def trains(self) -> bool:
        return any(spec["train"] for spec in self.models.values())

    def settings_of(self, model: str) -> list[Setting]:
        """The settings evaluated for a base model: pretrained, and one per λ pair if trained."""
        spec = self.models[model]
        return [PRETRAINED_SETTING] * spec["pretrained"] + self.lambda_settings * spec["train"]

    def setting(self, setting_id: str) -> Setting:
        return self._lookup(self.settings, setting_id, "setting")

    def pruning(self, pruning_id: str) -> Pruning:
        return self._lookup(self.prunings, pruning_id, "pruning")

    @staticmethod
    def _lookup(table: dict, key: str, kind: str):
        if key not in table:
            raise SpladeError(f"{key!r} is no {kind} of this study's config (it has: {', '.join(table)})")
        return table[key]

    def prunings_of(self, setting: Setting) -> list[Pruning]:
        if self.config["pruning"]["settings"] == PRETRAINED and setting.fine_tuned:
            return [UNPRUNED]
        return list(self.prunings.values())

    def rows(self, dataset: str) -> list[Row]:
        """Every row of a dataset's summary, in one order: models, settings, prunings, searches; BM25."""
        rows = [
            Row(dataset, model, setting, pruning, search)
            for model in self.models
            for setting in self.settings_of(model)
            for pruning in self.prunings_of(setting)
            for search in self.searches
        ]
        return rows + [Row(dataset, BM25)] * self.datasets[dataset]["bm25"]

    def model_settings(self) -> list[tuple[str, Setting]]:
        return [(model, setting) for model in self.models for setting in self.settings_of(model)]

    def corpus_of(self, dataset: str) -> str:
        return self.datasets[dataset].get("corpus", dataset)

    def calibration_dataset(self, corpus: str) -> str | None:
        """The dataset whose queries calibrate the approximate presets of a corpus's indexes (the
        first dataset searching it), or None when the study runs no approximate search."""
        if self.searches == [EXACT]:
            return None
        return next(name for name in self.datasets if self.corpus_of(name) == corpus)

    def collection_of(self, dataset: str) -> str:
        return self.datasets[dataset]["collection"]

    def corpus_collection(self, corpus: str) -> str:
        """The collection that supplies a corpus's documents: that of the first dataset naming it."""
        return next(self.collection_of(name) for name in self.datasets if self.corpus_of(name) == corpus)

    def needs_model(self, name: str) -> bool:
        """Whether a model is downloaded: to encode, train, or name the tokens of its vectors."""
        spec = self.models[name]
        if name not in self.imports:
            return spec["pretrained"] or spec["train"]
        files = [path for side in self.imports[name].values() for paths in side.values() for path in paths]
        return any(detect_format(path) != "npz" for path in files)

    @property
    def mining_runs_model(self) -> bool:
        """Whether mining runs a model (the SPLADE model for the "splade" methods, or a teacher):
        only then does its job ask for mining.device's GPU."""
        return "splade" in self.config["mining"]["method"] or self.teacher is not None

    def mines(self) -> bool:
        return self.trains() and not self.config["training"]["train_examples"]

    # --- downloads ------------------------------------------------------------------------------

    def collection_folder(self, spec: str) -> str:
        """The downloaded collection (queries, qrels, and its corpus) that jobs read for `spec`."""
        return str(downloads.collection_dir(self.resources, spec))

    def corpus_folder(self, spec: str) -> str:
        return str(downloads.corpus_dir(self.resources, spec))

    def model_folder(self, spec: str) -> str:
        return str(downloads.model_dir(self.resources, spec))

    def _resource(self, where: str, function, *args) -> str:
        try:
            return str(function(self.resources, *args))
        except SpladeError as exc:
            raise ConfigError(where, str(exc)) from None

    def _downloads(self) -> dict[str, dict]:
        """Per kind (corpora, collections, models, files), download folder -> what fills it: for
        models (spec, kind of model)."""
        table = {"corpora": {}, "collections": {}, "models": {}, "files": {}}
        specs = [(f"datasets.{name}.collection", d["collection"]) for name, d in self.datasets.items()]
        training = self.config["training"]
        if self.trains():
            specs.append(("training.train_data", training["train_data"]))
        for where, spec in specs:
            table["collections"][self._resource(where, downloads.collection_dir, spec)] = spec
            table["corpora"][self._resource(where, downloads.corpus_dir, spec)] = spec
        for name, spec in self.models.items():
            path = spec["path"]
            if (folder := local_path(path)) is not None and not folder.is_dir():
                raise ConfigError(f"models.{name}.path", f"{path!r} is no directory")
            if self.needs_model(name):
                table["models"][self._resource(f"models.{name}.path", downloads.model_dir, path)] = (path, "splade")
        if self.mines() and self.teacher not in (None, "self"):
            folder = self._resource("mining.teacher", downloads.model_dir, self.teacher)
            table["models"][folder] = (self.teacher, "cross-encoder")
        examples = training["train_examples"]
        if examples and downloads.is_url(examples):
            path = self._resource("training.train_examples", downloads.file_path, examples)
            table["files"][str(Path(path).parent)] = examples
        return table

    # --- checks the schema cannot make ----------------------------------------------------------

    def _check_folders(self, source) -> None:
        """results and resources: two separate folders, neither the file-system root nor one
        that holds the source tree (whose own folders would mix with the study's)."""
        folders = {key: Path(self.config[key]).resolve() for key in ("results", "resources")}
        for key, folder in folders.items():
            if folder == Path(folder.anchor):
                raise ConfigError(key, f"{self.config[key]!r} is the file-system root: name a folder of its own")
            if source is not None and Path(source).resolve().is_relative_to(folder):
                raise ConfigError(
                    key, f"{self.config[key]!r} holds the source tree {str(source)!r}: name a folder of its own"
                )
        results, resources = folders["results"], folders["resources"]
        if results.is_relative_to(resources) or resources.is_relative_to(results):
            raise ConfigError("results", f"{self.results!r} and resources {self.resources!r} must be separate folders")

    def _check_settings(self) -> None:
        seen = set()
        for setting in self.lambda_settings:
            if setting.id in seen:
                raise ConfigError("lambdas", f"two entries are the setting {setting.id}")
            seen.add(setting.id)
        if BM25 in self.models:
            raise ConfigError(f"models.{BM25}", "bm25 names the BM25 rows of the summaries; name the model otherwise")

    def _check_training(self) -> None:
        """The training and mining settings as `splade train` and `splade mine` will read them,
        validated by their own TrainConfig (one per λ) and MineConfig, so a setting that would fail
        hours later stops the plan now."""
        bases = [spec["path"] for spec in self.models.values() if spec["train"]]
        model = bases[0] if bases else BUNDLED_MODEL
        training = {key: value for key, value in self.config["training"].items() if key not in STUDY_TRAINING_KEYS}
        training["train_data"] = training["train_data"] or "(not trained)"
        values = {**training, "output": self.results, "model": model}
        values["train_examples"] = values["train_examples"] or "mined by the mine_negatives rule"
        for setting in self.lambda_settings or [Setting("-", 0.0, 0.0)]:
            try:
                TrainConfig.from_dict({**values, "lambda_q": setting.lq, "lambda_d": setting.ld}, "training")
            except SpladeError as exc:
                raise ConfigError("training", str(exc).removeprefix("invalid training config: ")) from None
        mining = {**self.config["mining"], "train_data": training["train_data"], "model": model}
        try:
            MineConfig(**{**mining, "teacher": self.teacher})
        except SpladeError as exc:
            raise ConfigError("mining", str(exc).removeprefix("invalid mining settings: ")) from None

    def _check_ranges(self) -> None:
        """Pruning thresholds within the impact type's range; a quantization scale that keeps
        weights apart; finite scales of pre-encoded vectors; TF32 only for float32 on CUDA."""
        encoding = self.config["encoding"]
        if encoding["tf32"] and not (encoding["device"].startswith("cuda") and encoding["precision"] == "fp32"):
            raise ConfigError("encoding.tf32", "applies to precision fp32 on a cuda device")
        quantization = self.config["quantization"]
        if (problem := scale_problem(quantization["scale"], quantization["dtype"])) is not None:
            raise ConfigError("quantization.scale", problem)
        for threshold in self.config["pruning"]["agnostic"]:
            if (problem := agnostic_problem(threshold, quantization["dtype"])) is not None:
                raise ConfigError("pruning.agnostic", problem)
        for name, spec in self.models.items():
            scale = spec.get("vectors", {}).get("scale", 1)
            if not math.isfinite(scale):
                raise ConfigError(f"models.{name}.vectors.scale", f"{scale!r} is not a finite number")

    def _check_corpora(self) -> None:
        """Datasets that name one corpus read its documents from one source."""
        sources = {}
        for name in self.datasets:
            corpus, folder = self.corpus_of(name), self.corpus_folder(self.collection_of(name))
            first, known = sources.setdefault(corpus, (name, folder))
            if known != folder:
                raise ConfigError(
                    f"datasets.{name}.corpus",
                    f"{corpus!r} is also the corpus of dataset {first!r}, whose collection has other documents",
                )

    def _check_training_data(self) -> None:
        """A study that trains names its training collection; one it mines from has judgments;
        and it does not train on the queries of a dataset it evaluates, unless told to."""
        if not self.trains():
            return
        training = self.config["training"]
        spec, where = training["train_data"], "training.train_data"
        if spec is None:
            raise ConfigError(where, "models with train: true need a collection to train on (e.g. beir/scifact/train)")
        try:
            judged = has_judgments(spec)
        except SpladeError as exc:
            raise ConfigError(where, str(exc)) from None
        if self.mines() and not judged:
            raise ConfigError(where, f"{spec!r} has no relevance judgments to mine training examples from")
        if training["allow_eval_overlap"]:
            return
        folder = self._resource(where, downloads.collection_dir, spec)
        for name in self.datasets:
            if (
                self._resource(f"datasets.{name}.collection", downloads.collection_dir, self.collection_of(name))
                == folder
            ):
                raise ConfigError(
                    where,
                    f"{spec!r} is the collection of dataset {name!r}, which the study evaluates: set "
                    "training.allow_eval_overlap: true to train on its queries anyway",
                )

    def _imports(self) -> dict[str, dict[str, dict[str, list[str]]]]:
        """Pre-encoded models -> side (docs, queries) -> corpus or dataset -> their files: evaluated
        as they are, with vectors for every corpus and dataset."""
        imports = {}
        for name, spec in self.models.items():
            vectors = spec.get("vectors")
            if vectors is None:
                continue
            where = f"models.{name}.vectors"
            if spec["train"] or not spec["pretrained"]:
                raise ConfigError(
                    f"models.{name}", "pre-encoded vectors are evaluated as they are (pretrained: true, train: false)"
                )
            files = {"docs": {}, "queries": {}}
            for dataset in self.datasets:
                for side, key in (("docs", self.corpus_of(dataset)), ("queries", dataset)):
                    if key not in vectors[side]:
                        raise ConfigError(f"{where}.{side}", f"no files for {key!r}")
                    files[side][key] = _matching(f"{where}.{side}.{key}", vectors[side][key])
                    if len({detect_format(path) for path in files[side][key]}) > 1:
                        raise ConfigError(f"{where}.{side}.{key}", "files of more than one format")
            imports[name] = files
        return imports

    def _baseline(self) -> Row | None:
        """The row every other row of a summary is tested against: `report.baseline`, or the first
        model evaluated as it is (else the first model's first setting; else BM25), unpruned."""
        chosen = self.config["report"]["baseline"]
        if chosen is None:
            models = [name for name in self.models if self.settings_of(name)]
            pretrained = [name for name in models if self.models[name]["pretrained"]]
            if not models:
                return Row("", BM25)
            model = (pretrained or models)[0]
            return Row("", model, self.settings_of(model)[0], UNPRUNED)
        where = "report.baseline"
        if chosen["model"] == BM25:
            missing = [name for name, d in self.datasets.items() if not d["bm25"]]
            if missing:
                raise ConfigError(where, f"dataset {missing[0]!r} has no BM25 row (bm25: false)")
            return Row("", BM25)
        if chosen["model"] not in self.models:
            raise ConfigError(f"{where}.model", f"{chosen['model']!r} is neither a model of the study nor bm25")
        settings = {s.id: s for s in self.settings_of(chosen["model"])}
        setting_id = chosen.get("setting", PRETRAINED)
        if setting_id not in settings:
            raise ConfigError(f"{where}.setting", f"{setting_id!r} is not one of {list(settings)}")
        prunings = {p.id: p for p in self.prunings_of(settings[setting_id])}
        pruning_id = chosen.get("prune", NO_PRUNING)
        if pruning_id not in prunings:
            raise ConfigError(f"{where}.prune", f"{pruning_id!r} is not one of {list(prunings)}")
        return Row("", chosen["model"], settings[setting_id], prunings[pruning_id])

    def baseline_labels(self) -> dict[str, str]:
        """The labels `splade aggregate --baseline` matches the baseline row by."""
        labels = self.baseline.labels()
        del labels["dataset"]
        return {"model": BM25} if self.baseline.is_bm25 else labels


def _matching(where: str, patterns: str | list[str]) -> list[str]:
    """The files a config entry names: each pattern's matches (sorted), or ConfigError naming it."""
    files = []
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        matches = sorted(glob.glob(os.path.expanduser(pattern)))
        if not matches:
            raise ConfigError(where, f"no file matches {pattern!r}")
        files += matches
    return files
