# The config checked and planned (splade_core.study: typed tables, the results layout, the
# resources each job asks for), and the lookups that several stages share. Rules look a value up
# by its id (STUDY.setting(wildcards.setting).lq); nothing is parsed back from a path.
import os
import sys
from pathlib import Path

import jsonschema
import numpy as np
import yaml
from snakemake.utils import validate
from splade_core.errors import SpladeError
from splade_core.formats import detect_format
from splade_core.io import read_yaml
from splade_core.registry import STUDY_PRUNING_METHODS
from splade_core.sparse.vectors import weight_dtype
from splade_core.index.presets import PRESETS
from splade_core.study import BM25, EXACT, NO_PRUNING, PRETRAINED, Study
from splade_core.study.resources import (
    encode_memory,
    encode_minutes,
    index_memory,
    memory,
    mine_memory,
    mine_minutes,
    minutes,
    on_cuda,
)

SCHEMA = workflow.source_path("../schemas/config.schema.yaml")


def check_config(config):
    """Stop with one line naming the first invalid key; then fill in the defaults."""
    with open(SCHEMA) as handle:
        schema = yaml.safe_load(handle)
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(config)
    )
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        sys.exit(f"invalid config: {where}: {error.message}")
    validate(config, SCHEMA, set_default=True)


try:
    for file in workflow.configfiles:  # YAML lets a key given twice win silently
        read_yaml(file)
except SpladeError as exc:
    sys.exit(f"invalid config: {exc}")
check_config(config)
try:
    STUDY = Study.from_config(config, source=Path(workflow.basedir).parent)
except SpladeError as exc:
    sys.exit(str(exc))

path = STUDY.path
R = STUDY.results
RES = STUDY.resources
ENCODE = config["encoding"]
QUANT = config["quantization"]
RETRIEVAL = config["retrieval"]
TRAIN = config["training"]
MINING = config["mining"]


envvars:
    "PATH",


# Shell commands call the `splade` entry point of the Python running Snakemake (its venv).
os.environ["PATH"] = (
    f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
)


# Names are ids of the config's tables: a model or dataset key, a setting (pretrained or a λ
# pair's id), a pruning id, a search (exact or a preset's name). Each stage has its own tree,
# so no name can reach into another's.
wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9._-]*",
    corpus="[A-Za-z0-9][A-Za-z0-9._-]*",
    model="[A-Za-z0-9][A-Za-z0-9._-]*",
    setting=f"{PRETRAINED}|lq=[^_/]+_ld=[^_/]+",
    prune=f"{NO_PRUNING}|({'|'.join(STUDY_PRUNING_METHODS)})-[0-9]+",
    shard="[0-9]+",
    search="|".join([EXACT, *PRESETS]),


def manifest(folder):
    return f"{folder}/manifest.json"


def all_downloads():
    return [manifest(folder) for table in STUDY.downloads.values() for folder in table]


def dataset_folder(wildcards):
    """The downloaded collection of a dataset: its queries, qrels and corpus."""
    return STUDY.collection_folder(STUDY.collection_of(wildcards.dataset))


def base_model(wildcards):
    """The downloaded base model of `model`."""
    return STUDY.model_folder(config["models"][wildcards.model]["path"])


def fine_tuned(wildcards):
    return STUDY.setting(wildcards.setting).fine_tuned


def model_dir(wildcards):
    """The model a setting encodes with: the (downloaded) base model, or the fine-tuned one."""
    if fine_tuned(wildcards):
        return path("model", model=wildcards.model, setting=wildcards.setting)
    return base_model(wildcards)


def model_input(wildcards):
    """Input files for model_dir: the base model's manifest, or the fine-tuned folder."""
    if fine_tuned(wildcards):
        return [model_dir(wildcards)]
    return [manifest(base_model(wildcards))]


def vocabulary_input(wildcards):
    """The downloaded model whose tokenizer numbers an imported model's tokens, if needed."""
    return (
        [manifest(base_model(wildcards))] if STUDY.needs_model(wildcards.model) else []
    )


def _float_file(files):
    """The one float .npz a side is given as, which quantization reads directly; else None."""
    if len(files) == 1 and detect_format(files[0]) == "npz":
        if weight_dtype(files[0]) == np.float32:
            return files[0]
    return None


def float_vectors(side, wildcards):
    """Float vectors of a side ("docs" of a corpus, "queries" of a dataset): encoded here,
    imported, or given as a float .npz."""
    key = wildcards.corpus if side == "docs" else wildcards.dataset
    values = {"corpus" if side == "docs" else "dataset": key, "model": wildcards.model}
    if wildcards.model in STUDY.imports:
        files = STUDY.imports[wildcards.model][side][key]
        return _float_file(files) or path(f"imported_{side}", **values)
    return path(side, **values, setting=wildcards.setting)


def corpus_vectors(wildcards, corpus=None):
    """Quantized document vectors of a corpus, pruned or not."""
    values = {
        "corpus": corpus or wildcards.corpus,
        "model": wildcards.model,
        "setting": wildcards.setting,
    }
    if wildcards.prune == NO_PRUNING:
        return path("quantized_docs", **values)
    return path("pruned_docs", **values, prune=wildcards.prune)


def summaries():
    return [f"{path('summary', dataset=dataset)}.md" for dataset in STUDY.datasets]
