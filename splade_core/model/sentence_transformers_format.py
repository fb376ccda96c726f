"""sentence-transformers `SparseEncoder` folders, both ways.

`write_files` adds to a model folder the small files with which `SparseEncoder(folder)` loads it
as it is, offline, and gives this project's vectors (up to float rounding); `read_layout` reads
such a folder, written here or by sentence-transformers, as the encoders this project builds,
and refuses in one line what it cannot reproduce exactly. The files are written by hand, without
importing sentence-transformers (an optional dependency), with the module names and keys of
sentence-transformers 5.0, which later versions map to their own (6.x reads
`sparse_encoder.models.MLMTransformer` as `sparse_encoder.modules.MLMTransformer`).

Layouts (a module's folder relative to the model folder; "" is the model folder itself, which
stays a plain HF masked-LM folder):

- shared encoder: modules.json = [MLMTransformer "", SpladePooling "1_SpladePooling"];
- separate query encoder: one Router (router_config.json): query = [MLMTransformer
  "query_encoder", SpladePooling], document = [MLMTransformer "", SpladePooling];
- inference-free query side: a Router: query = [SparseStaticEmbedding
  "query_0_SparseStaticEmbedding"], document = [MLMTransformer "", SpladePooling]. Its weight
  is 1.0 per vocabulary token and 0.0 per special token, and its tokenizer keeps
  query_max_length less the tokens a tokenizer adds ([CLS], [SEP]): SparseStaticEmbedding
  tokenizes without them and counts each distinct token once, so it gives the bag of tokens.

Each MLMTransformer's sentence_bert_config.json holds its max length. A shared encoder is one
module with one max length (the document one), so `SparseEncoder.encode_query` keeps up to
doc_max_length tokens of a query where this project keeps query_max_length: the same vectors for
queries of at most query_max_length - 2 tokens (BERT) only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ..errors import SpladeError
from ..io import read_json, write_json

MODULES_FILE = "modules.json"
MODEL_CONFIG = "config_sentence_transformers.json"
# The names sentence-transformers tries for a Transformer module's settings, in its order.
TRANSFORMER_CONFIGS = (
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_camembert_config.json",
    "sentence_albert_config.json",
    "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)
ROUTER_CONFIGS = ("router_config.json", "config.json")  # Router, then the older Asym
MODULE_CONFIG = "config.json"  # SpladePooling's and SparseStaticEmbedding's settings
POOLING_DIR = "1_SpladePooling"
STATIC_DIR = "query_0_SparseStaticEmbedding"
STATIC_WEIGHTS = "model.safetensors"
_TYPES = {
    "MLMTransformer": "sentence_transformers.sparse_encoder.models.MLMTransformer",
    "SpladePooling": "sentence_transformers.sparse_encoder.models.SpladePooling",
    "SparseStaticEmbedding": "sentence_transformers.sparse_encoder.models.SparseStaticEmbedding",
    "Router": "sentence_transformers.models.Router",
}
_TEXT_LOGITS = {"text": {"method": "forward", "method_output_name": "logits"}}  # a fill-mask Transformer's
NO_TRUNCATION = 1 << 20  # query tokens kept when a static query side's tokenizer sets no limit


class StaticQuery(NamedTuple):
    """A SparseStaticEmbedding query side: its tokenizer, weight per vocabulary token, and the
    tokens of a query's own text it keeps (the tokenizer's model_max_length)."""

    tokenizer: PreTrainedTokenizerBase
    weights: torch.Tensor
    max_length: int


@dataclass(frozen=True)
class Route:
    """The modules of one side: a masked LM (`folder`) with SpladePooling, or (`static`) a
    SparseStaticEmbedding. `max_length` counts the tokens the tokenizer adds; None: the
    tokenizer's model_max_length capped at the model's positions, as sentence-transformers does."""

    folder: Path
    static: bool = False
    pooling: str | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class Layout:
    """A SparseEncoder folder's sides; `query` None: the document modules encode queries too."""

    doc: Route
    query: Route | None


def write_files(
    directory: str | Path,
    pooling: str,
    doc_max_length: int,
    query_dir: str | None = None,
    query_max_length: int | None = None,
    static_query: StaticQuery | None = None,
) -> None:
    """The SparseEncoder files of a model folder whose document (or shared) encoder is at the
    top: a Router to the query encoder in `query_dir` (`query_max_length` tokens) or to
    `static_query`, else the shared encoder's two modules."""
    directory = Path(directory)
    write_json(
        directory / MODEL_CONFIG,
        {
            "model_type": "SparseEncoder",
            "prompts": {"query": "", "document": ""},
            "default_prompt_name": None,
            "similarity_fn_name": "dot",
        },
    )
    write_json(directory / TRANSFORMER_CONFIGS[0], {"max_seq_length": doc_max_length, "do_lower_case": False})
    write_json(directory / POOLING_DIR / MODULE_CONFIG, {"pooling_strategy": pooling, "activation_function": "relu"})
    if query_dir is None and static_query is None:
        write_json(
            directory / MODULES_FILE,
            [
                {"idx": 0, "name": "0", "path": "", "type": _TYPES["MLMTransformer"]},
                {"idx": 1, "name": "1", "path": POOLING_DIR, "type": _TYPES["SpladePooling"]},
            ],
        )
        return
    if query_dir is not None:
        write_json(
            directory / query_dir / TRANSFORMER_CONFIGS[0], {"max_seq_length": query_max_length, "do_lower_case": False}
        )
        query = {query_dir: "MLMTransformer", POOLING_DIR: "SpladePooling"}
    else:
        _write_static(directory / STATIC_DIR, static_query)
        query = {STATIC_DIR: "SparseStaticEmbedding"}
    document = {"": "MLMTransformer", POOLING_DIR: "SpladePooling"}
    write_json(
        directory / ROUTER_CONFIGS[0],
        {
            "types": {folder: _TYPES[name] for folder, name in {**query, **document}.items()},
            "structure": {"query": list(query), "document": list(document)},
            "parameters": {"default_route": "document", "allow_empty_key": True},
        },
    )
    write_json(directory / MODULES_FILE, [{"idx": 0, "name": "0", "path": "", "type": _TYPES["Router"]}])


def _write_static(folder: Path, query: StaticQuery) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    query.tokenizer.save_pretrained(folder)
    settings = read_json(folder / "tokenizer_config.json")
    settings["model_max_length"] = query.max_length
    write_json(folder / "tokenizer_config.json", settings)
    save_file({"weight": query.weights.detach().float().cpu().contiguous()}, folder / STATIC_WEIGHTS)
    write_json(folder / MODULE_CONFIG, {"frozen": True})


def read_layout(directory: str | Path) -> Layout | None:
    """The sides of a SparseEncoder folder (None if it has no modules.json), each checked to be
    one this project reproduces exactly; SpladeError naming the file otherwise."""
    directory = Path(directory)
    if not (directory / MODULES_FILE).is_file():
        return None
    _check_prompts(directory / MODEL_CONFIG)
    where = directory / MODULES_FILE
    modules = read_json(where)
    if not isinstance(modules, list) or not all(isinstance(m, dict) and "type" in m for m in modules):
        raise SpladeError(f"{where}: must be a list of modules, each with a 'type'")
    pipeline = [(_class_name(where, m["type"]), _inside(where, directory, m.get("path", ""))) for m in modules]
    if pipeline and pipeline[0][0] in ("Router", "Asym"):
        routes, trailing = _router(pipeline[0][1]), pipeline[1:]
        doc = _route(directory, routes["document"] + trailing, "document", static_ok=False)
        return Layout(doc, _route(directory, routes["query"] + trailing, "query", static_ok=True))
    return Layout(_route(directory, pipeline, "document", static_ok=False), None)


def _check_prompts(path: Path) -> None:
    if not path.is_file():
        return
    config = read_json(path)
    if not isinstance(config, dict):
        raise SpladeError(f"{path}: must be a JSON object of settings")
    prompts = config.get("prompts") or {}
    if not isinstance(prompts, dict):
        raise SpladeError(f"{path}: prompts must be a JSON object")
    used = {name: prompts.get(name) for name in ("query", "document") if prompts.get(name)}
    if config.get("default_prompt_name") or used:
        raise SpladeError(
            f"{path}: prompts {used or config['default_prompt_name']!r} are not supported (texts are encoded as given)"
        )


def _class_name(where: Path, type_name: object) -> str:
    if not isinstance(type_name, str) or not type_name.startswith("sentence_transformers."):
        raise SpladeError(f"{where}: module type {type_name!r} is no sentence-transformers module")
    name = type_name.rsplit(".", 1)[-1]
    if name not in ("MLMTransformer", "Transformer", "SpladePooling", "SparseStaticEmbedding", "Router", "Asym"):
        raise SpladeError(
            f"{where}: module {name} is not supported (only MLMTransformer + SpladePooling, "
            "SparseStaticEmbedding queries, and a Router of them)"
        )
    return name


def _router(folder: Path) -> dict[str, list[tuple[str, Path]]]:
    """A Router's 'query' and 'document' routes: (class name, folder) of each module."""
    path = next((folder / name for name in ROUTER_CONFIGS if (folder / name).is_file()), folder / ROUTER_CONFIGS[0])
    config = read_json(path)
    if not isinstance(config, dict) or not isinstance(config.get("types"), dict):
        raise SpladeError(f"{path}: not a Router's settings (no 'types')")
    parameters = config.get("parameters") or {}
    if not isinstance(parameters, dict) or parameters.get("route_mappings"):
        raise SpladeError(f"{path}: route_mappings are not supported (routes must be named 'query' and 'document')")
    structure = config.get("structure") or {}
    routes = {}
    for side in ("query", "document"):
        if not isinstance(structure.get(side), list):
            raise SpladeError(f"{path}: no '{side}' route")
        for module_id in structure[side]:
            if not isinstance(module_id, str) or module_id not in config["types"]:
                raise SpladeError(f"{path}: module {module_id!r} of the '{side}' route has no type")
        routes[side] = [(_class_name(path, config["types"][m]), _inside(path, folder, m)) for m in structure[side]]
    return routes


def _inside(where: Path, folder: Path, relative: object) -> Path:
    """`folder / relative`, a module folder inside the model folder."""
    if not isinstance(relative, str) or Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise SpladeError(f"{where}: module folder {relative!r} is not a folder inside the model")
    return folder / relative


def _route(directory: Path, modules: list[tuple[str, Path]], side: str, static_ok: bool) -> Route:
    names = [name for name, _ in modules]
    if static_ok and names == ["SparseStaticEmbedding"]:
        _static_settings(modules[0][1])
        return Route(modules[0][1], static=True)
    if len(names) != 2 or names[0] not in ("MLMTransformer", "Transformer") or names[1] != "SpladePooling":
        raise SpladeError(
            f"{directory / MODULES_FILE}: the {side} side is {' + '.join(names) or 'empty'}; "
            "supported: MLMTransformer + SpladePooling" + (" or SparseStaticEmbedding" if static_ok else "")
        )
    max_length = _transformer_max_length(modules[0][1], fill_mask_only=names[0] == "Transformer")
    return Route(modules[0][1], pooling=_pooling(modules[1][1]), max_length=max_length)


def _settings(path: Path, defaults: dict) -> dict:
    """A module's JSON settings, every key one of `defaults` (a value, or a predicate)."""
    config = read_json(path) if path.is_file() else {}
    if not isinstance(config, dict):
        raise SpladeError(f"{path}: must be a JSON object of settings")
    for key, value in config.items():
        accepted = defaults.get(key)
        if key not in defaults or not (accepted(value) if callable(accepted) else value == accepted):
            raise SpladeError(
                f"{path}: setting {key} = {value!r} is not supported (splade-core cannot reproduce it exactly)"
            )
    return config


def _pooling(folder: Path) -> str:
    def whole(value):
        return value is None or (isinstance(value, int) and value > 0)

    config = _settings(
        folder / MODULE_CONFIG,
        {
            "pooling_strategy": lambda v: v in ("max", "sum"),
            "activation_function": "relu",
            "embedding_dimension": whole,  # filled in by the first forward pass; no effect
            "word_embedding_dimension": whole,
            "chunk_size": whole,  # pools a few tokens at a time: the same values up to float rounding
        },
    )
    return config.get("pooling_strategy", "max")


def _transformer_max_length(folder: Path, fill_mask_only: bool) -> int | None:
    """The max length a (MLM)Transformer module's settings give, None if they give none; a plain
    Transformer must say it is a masked LM (transformer_task fill-mask), as MLMTransformer is."""

    def empty(value):
        return not value

    def positive(value):
        return isinstance(value, int) and not isinstance(value, bool) and value > 0

    path = next((folder / n for n in TRANSFORMER_CONFIGS if (folder / n).is_file()), folder / TRANSFORMER_CONFIGS[0])
    config = _settings(
        path,
        {
            "max_seq_length": lambda v: v is None or positive(v),
            "do_lower_case": False,
            "transformer_task": "fill-mask",
            "modality_config": _TEXT_LOGITS,
            "module_output_name": "token_embeddings",
            "unpad_inputs": lambda v: v is None or isinstance(v, bool),  # unpadded batches pool the same tokens
            "processing_kwargs": empty,
            **dict.fromkeys(("model_args", "model_kwargs", "config_args", "config_kwargs"), empty),
            **dict.fromkeys(
                ("tokenizer_args", "processor_kwargs"),
                lambda v: (
                    isinstance(v, dict) and set(v) <= {"model_max_length"} and positive(v.get("model_max_length", 1))
                ),
            ),
        },
    )
    if fill_mask_only and config.get("transformer_task") != "fill-mask":
        raise SpladeError(f"{path}: a Transformer module must be a masked LM (transformer_task: fill-mask)")
    if config.get("max_seq_length") is not None:
        return config["max_seq_length"]
    tokenizer_settings = config.get("tokenizer_args") or config.get("processor_kwargs") or {}
    return tokenizer_settings.get("model_max_length")


def _static_settings(folder: Path) -> None:
    _settings(folder / MODULE_CONFIG, {"frozen": lambda v: isinstance(v, bool)})


def read_static_query(folder: Path, vocab_size: int) -> StaticQuery:
    """A SparseStaticEmbedding folder: its tokenizer, weights (safetensors only) and max length."""
    path = folder / STATIC_WEIGHTS
    if not path.is_file():
        raise SpladeError(f"{path}: no such file (SparseStaticEmbedding weights are read from safetensors only)")
    try:
        weights = load_file(path)["weight"]
    except Exception as exc:  # not safetensors, or no 'weight'
        raise SpladeError(f"{path}: not SparseStaticEmbedding weights ({str(exc).strip().splitlines()[0]})") from None
    if weights.shape != (vocab_size,) or not weights.is_floating_point():
        raise SpladeError(
            f"{path}: weight must be {vocab_size} floats (the vocabulary), not {weights.dtype} {tuple(weights.shape)}"
        )
    weights = weights.float()
    if not torch.isfinite(weights).all() or (weights < 0).any():
        raise SpladeError(f"{path}: weights must be finite and not negative (vectors keep positive weights)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except Exception as exc:  # missing or broken tokenizer files
        raise SpladeError(f"cannot load the tokenizer in {folder}: {str(exc).strip().splitlines()[0]}") from None
    return StaticQuery(tokenizer, weights, min(tokenizer.model_max_length, NO_TRUNCATION))
