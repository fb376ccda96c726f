"""ONNX export of a SPLADE model with the pooling inside the graph.

Each exported graph maps token ids to the model's pooled vector, `sparse_vector` [batch, vocab]
float32: the masked LM, log(1 + ReLU(logits)) over the real tokens (attention mask 1), then max
or sum over tokens, as `splade_pool` (Formal et al., "SPLADE v2", 2021). ONNX exports that stop
at the MLM logits leave that step to every consumer to redo (docs/onnx.md).

`export_onnx` writes a folder, replacing a previous export atomically (never a half-written one):

    encoder.onnx                  shared model: one graph for documents and queries
    doc_encoder.onnx              separate or inference-free query side: the document graph
    query_encoder.onnx            separate query encoder only
    tokenizer.json, tokenizer_config.json (+ vocab.txt for WordPiece)   the document tokenizer
    query_tokenizer/              the query encoder's tokenizer (separate query encoder only)
    splade_onnx.json              inputs, output, pooling, max lengths and files of each side

An inference-free query side (a bag of the query's tokens) has no network: only the document
graph is written, and `splade_onnx.json` says how to build query vectors. Graphs come from
torch's dynamo exporter (`torch.onnx.export(dynamo=True)`, which needs onnxscript) at opset 18,
with batch and sequence axes dynamic, saved at the lowest IR version the opset allows (8), so
that older runtimes load them (Anserini's onnxruntime 1.17 refuses IR 10). Each export is checked
with onnxruntime against the torch vectors before the folder is renamed into place.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import SpladeError
from ..io import atomic_dir, read_json, write_json
from .encoder import BagOfTokensEncoder, Splade, SpladeEncoder

ONNX_CONFIG = "splade_onnx.json"
ONNX_FORMAT = "splade-onnx"
ONNX_FORMAT_VERSION = 1
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")  # PooledEncoder.forward's arguments
OUTPUT_NAME = "sparse_vector"
QUERY_WEIGHTS = "query_token_weights.npy"  # an inference-free query side's weight of each token
OPSET = 18
# The layout of Anserini's ONNX SPLADE query encoders (io.anserini.encoder.sparse.SpladeEncoder,
# run by onnxruntime 1.17 for Java): one query in, its non-zero terms out, both 1-D.
ANSERINI_DIR = "anserini"
ANSERINI_INPUTS = ("input_ids", "token_type_ids", "attention_mask")
ANSERINI_OUTPUTS = ("output_idx", "output_weights")
INSTALL_HINT = "pip install 'splade-core[onnx]'"
# Largest |onnxruntime - torch| weight an export may show on the check texts (float32 rounding of
# reordered sums is ~1e-6 of the weights; a wrong graph is off by whole units).
CHECK_TOLERANCE = 1e-3
# Protobuf files stop at 2 GiB: models with over 1 GiB of weights keep them in `<file>.data`.
EXTERNAL_DATA_BYTES = 1 << 30
CHECK_TEXTS = [
    "Sparse retrieval with learned term weights.",
    "a",
    "Protein folding, gene expression and the immune response to vaccines " * 40,  # truncated
]


def require_onnx() -> None:
    """SpladeError with the install line when onnx, onnxscript or onnxruntime is missing."""
    for module in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            raise SpladeError(f"ONNX export needs the {module} package: {INSTALL_HINT}") from None


class PooledEncoder(nn.Module):
    """What an exported graph computes: the masked LM, then SPLADE pooling over the real tokens
    (max: log(1 + ReLU(max logit)), equal to the max of log(1 + ReLU(logit)) since both are
    monotone; sum: the sum of log(1 + ReLU(logit)) times the mask)."""

    def __init__(self, mlm: nn.Module, pooling: str):
        super().__init__()
        self.mlm = mlm
        self.pooling = pooling

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ):
        inputs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        logits = self.mlm(input_ids=input_ids, attention_mask=attention_mask, **inputs).logits.float()
        keep = attention_mask.unsqueeze(-1) > 0
        if self.pooling == "max":
            masked = torch.where(keep, logits, torch.finfo(torch.float32).min)
            return torch.log1p(torch.relu(masked.amax(dim=1)))
        return torch.where(keep, torch.log1p(torch.relu(logits)), 0.0).sum(dim=1)


class AnseriniQueryEncoder(nn.Module):
    """One query [1, tokens] -> the ids (int64) and weights (float32) of its pooled vector's
    non-zero terms, 1-D: the outputs Anserini's SpladeEncoder reads (`output_idx`,
    `output_weights`), pooling inside as in `PooledEncoder`."""

    def __init__(self, pooled: PooledEncoder):
        super().__init__()
        self.pooled = pooled

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, attention_mask: torch.Tensor):
        vector = self.pooled(input_ids, attention_mask, token_type_ids)[0]
        ids = torch.nonzero(vector > 0).reshape(-1)
        return ids, vector[ids]


def input_names(encoder: SpladeEncoder) -> list[str]:
    """The graph's inputs: input_ids, attention_mask, and token_type_ids where the tokenizer
    makes them and the network reads them (BERT; not DistilBERT or RoBERTa)."""
    names = ["input_ids", "attention_mask"]
    reads = "token_type_ids" in inspect.signature(encoder.mlm.forward).parameters
    if reads and "token_type_ids" in encoder.tokenizer.model_input_names:
        names.append("token_type_ids")
    return names


def export_onnx(model: Splade, output: str | os.PathLike, source: str | None = None, anserini: bool = False) -> dict:
    """Write `model`'s encoders as ONNX graphs with pooling inside, its tokenizers and
    `splade_onnx.json` into the folder `output` (`anserini`: also the query encoder in Anserini's
    layout, under anserini/); returns a summary (files, largest difference from the torch vectors
    on the check texts)."""
    require_onnx()
    output = Path(output)
    check_output(output)
    if anserini and (problem := anserini_problem(model)) is not None:
        raise SpladeError(f"--anserini: {problem}")
    model.eval()
    sides: dict[str, dict] = {}
    with atomic_dir(output) as folder:
        doc_file = "encoder.onnx" if not (model.separate or model.inference_free_query) else "doc_encoder.onnx"
        tokenizer = _save_tokenizer(model.doc_encoder.tokenizer, folder)
        sides["doc"] = doc = _export_side(model.doc_encoder, folder, doc_file, model.doc_max_length, tokenizer)
        if model.inference_free_query:
            sides["query"] = _inference_free_side(model, tokenizer, folder)
        elif model.separate:
            tokenizer = _save_tokenizer(model.query_encoder.tokenizer, folder, "query_tokenizer")
            sides["query"] = _export_side(
                model.query_encoder, folder, "query_encoder.onnx", model.query_max_length, tokenizer
            )
        else:
            query = {**doc, "max_length": model.query_max_length}
            query["check_max_abs_diff"] = _check(model.doc_encoder, folder / doc_file, model.query_max_length)
            sides["query"] = query
        config = {
            "format": ONNX_FORMAT,
            "version": ONNX_FORMAT_VERSION,
            "model": source,
            "pooling": model.pooling,
            "vocab_size": model.vocab_size,
            "separate_query_encoder": model.separate,
            "inference_free_query": model.inference_free_query,
            "output": {
                "name": OUTPUT_NAME,
                "dtype": "float32",
                "shape": ["batch", model.vocab_size],
                "value": f"{model.pooling} over real tokens (attention_mask 1) of log(1 + ReLU(MLM logits))",
            },
            "sides": sides,
            "exporter": {"torch": torch.__version__, "dynamo": True, "opset": OPSET},
        }
        if anserini:
            config["anserini"] = _export_anserini(model, folder)
        write_json(folder / ONNX_CONFIG, config)
    graphs = [*sides.values(), *([config["anserini"]] if anserini else [])]
    files = sorted({graph[key] for graph in graphs for key in ("file", "data") if graph.get(key)})
    diffs = [graph["check_max_abs_diff"] for graph in graphs if "check_max_abs_diff" in graph]
    return {"files": files, "pooling": model.pooling, "check_max_abs_diff": max(diffs)}


def check_output(output: Path) -> None:
    """Refuse to replace anything but a previous export (the model folder, the working directory)."""
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        raise SpladeError(f"{output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not (output / ONNX_CONFIG).is_file():
        raise SpladeError(f"{output}: a folder that is not an ONNX export (no {ONNX_CONFIG}); refusing to replace it")


def _export_side(encoder: SpladeEncoder, folder: Path, name: str, max_length: int, tokenizer: str) -> dict:
    """Export one encoder as `folder/name`, check it, and describe it (the side's entry)."""
    names = input_names(encoder)
    path = folder / name
    pooled = PooledEncoder(encoder.mlm, encoder.pooling)
    examples = _examples(encoder, ["an example text to trace the graph", "short"])  # the second padded
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    shapes = {name: {0: batch, 1: sequence} if name in names else None for name in INPUT_NAMES}
    external = _export_graph(pooled, tuple(examples[n] for n in names), names, [OUTPUT_NAME], shapes, path)
    side = {
        "file": name,
        **({"data": f"{name}.data"} if external else {}),
        "tokenizer": tokenizer,
        "max_length": max_length,
        "inputs": [{"name": n, "dtype": "int64", "shape": ["batch", "sequence"]} for n in names],
    }
    side["check_max_abs_diff"] = _check(encoder, path, max_length)
    return side


def _examples(encoder: SpladeEncoder, texts: list[str]) -> dict[str, torch.Tensor]:
    """The inputs the exporter traces: `texts` tokenized and padded, token types 0."""
    tokens = encoder.tokenizer(texts, padding=True, return_tensors="pt")
    ids = tokens["input_ids"]
    return {"input_ids": ids, "attention_mask": tokens["attention_mask"], "token_type_ids": torch.zeros_like(ids)}


def _export_graph(module: nn.Module, args: tuple, names, outputs, shapes: dict, path: Path) -> bool:
    """Export `module` called on `args` (dynamic axes `shapes`) to `path`; True when its weights
    went to `path`.data (models over EXTERNAL_DATA_BYTES)."""
    import onnx
    from onnx.helper import find_min_ir_version_for

    with torch.no_grad(), _quiet():
        program = torch.onnx.export(
            module,
            args,
            input_names=list(names),
            output_names=list(outputs),
            opset_version=OPSET,
            dynamo=True,
            dynamic_shapes=shapes,
            verbose=False,
        )
    proto = program.model_proto
    # Node and graph metadata (the exporter's stack traces) need IR 10; nothing else here does.
    for node in proto.graph.node:
        del node.metadata_props[:]
    del proto.graph.metadata_props[:]
    proto.ir_version = find_min_ir_version_for(list(proto.opset_import))
    external = sum(p.numel() * p.element_size() for p in module.parameters()) > EXTERNAL_DATA_BYTES
    onnx.save_model(proto, str(path), save_as_external_data=external, location=f"{path.name}.data")
    return external


@contextlib.contextmanager
def _quiet():
    """The exporter's progress lines and its warnings about tracing HF code stay out of the
    command's output (its JSON summary on stdout)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # "torchvision is not installed", each optimizer pass at INFO
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _check(encoder: SpladeEncoder, path: Path, max_length: int) -> float:
    """Largest |onnxruntime - torch| weight on CHECK_TEXTS (one batch, padded, one truncated);
    SpladeError beyond CHECK_TOLERANCE."""
    session = OnnxEncoder(path, encoder.tokenizer, max_length, threads=1)
    reference = encoder.encode_texts(CHECK_TEXTS, max_length).float().cpu().numpy()
    difference = float(np.abs(session.encode_batch(CHECK_TEXTS) - reference).max())
    if not difference <= CHECK_TOLERANCE:
        raise SpladeError(
            f"{path.name}: onnxruntime's vectors differ from torch's by {difference:.3g} "
            f"(over {CHECK_TOLERANCE}); nothing was written"
        )
    return difference


def _save_tokenizer(tokenizer, folder: Path, sub: str = ".") -> str:
    """The tokenizer's files in `folder/sub`, and vocab.txt (one token a line, line i = id i) for a
    WordPiece vocabulary: what Java WordPiece tokenizers (Anserini's DJL) read."""
    target = folder / sub
    tokenizer.save_pretrained(target)
    _save_vocab(tokenizer, target)
    return sub


def _wordpiece_vocab(tokenizer) -> list[str] | None:
    """The tokens of a WordPiece tokenizer by id (ids 0..n-1), None for other tokenizers."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or type(backend.model).__name__ != "WordPiece":
        return None
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    if [index for _, index in vocab] != list(range(len(vocab))):
        return None
    return [token for token, _ in vocab]


def _save_vocab(tokenizer, folder: Path) -> None:
    """folder/vocab.txt (one token a line, line i = id i) of a WordPiece tokenizer."""
    if (tokens := _wordpiece_vocab(tokenizer)) is not None:
        (folder / "vocab.txt").write_text("".join(f"{token}\n" for token in tokens), encoding="utf-8")


def anserini_problem(model: Splade) -> str | None:
    """Why `model`'s query side cannot take Anserini's layout, or None."""
    if model.inference_free_query:
        return "the query side is inference-free, there is no query network for Anserini to run"
    if "token_type_ids" not in input_names(model.query_encoder):
        return "Anserini feeds token_type_ids, which this model's network does not read"
    if _wordpiece_vocab(model.query_encoder.tokenizer) is None:
        return "Anserini tokenizes with a WordPiece vocab.txt; this model's tokenizer is not WordPiece"
    return None


def _export_anserini(model: Splade, folder: Path) -> dict:
    """The query encoder in Anserini's layout (ANSERINI_INPUTS -> ANSERINI_OUTPUTS) with the
    WordPiece vocab.txt its tokenizer reads, under folder/anserini/; checked like the others."""
    encoder, max_length = model.encoder_for("query")
    target = folder / ANSERINI_DIR
    target.mkdir()
    _save_vocab(encoder.tokenizer, target)
    examples = _examples(encoder, ["an example query to trace the graph"])  # Anserini never pads
    sequence = torch.export.Dim("sequence")
    shapes = {name: {1: sequence} for name in ANSERINI_INPUTS}
    module = AnseriniQueryEncoder(PooledEncoder(encoder.mlm, encoder.pooling))
    path = target / "query_encoder.onnx"
    args = tuple(examples[name] for name in ANSERINI_INPUTS)
    external = _export_graph(module, args, ANSERINI_INPUTS, ANSERINI_OUTPUTS, shapes, path)
    return {
        "file": f"{ANSERINI_DIR}/{path.name}",
        **({"data": f"{ANSERINI_DIR}/{path.name}.data"} if external else {}),
        "vocab": f"{ANSERINI_DIR}/vocab.txt",
        "max_length": max_length,
        "inputs": [{"name": n, "dtype": "int64", "shape": [1, "sequence"]} for n in ANSERINI_INPUTS],
        "outputs": [
            {"name": ANSERINI_OUTPUTS[0], "dtype": "int64", "shape": ["terms"]},
            {"name": ANSERINI_OUTPUTS[1], "dtype": "float32", "shape": ["terms"]},
        ],
        "check_max_abs_diff": _check_anserini(encoder, path, max_length),
    }


def _check_anserini(encoder: SpladeEncoder, path: Path, max_length: int) -> float:
    """Largest |onnxruntime - torch| weight over CHECK_TEXTS, one query a run, as Anserini runs them."""
    session = OnnxEncoder(path, encoder.tokenizer, max_length, threads=1).session
    difference = 0.0
    for text in CHECK_TEXTS:
        tokens = encoder.tokenizer([text], truncation=True, max_length=max_length, return_tensors="np")
        ids = np.asarray(tokens["input_ids"], np.int64)
        feed = {"input_ids": ids, "token_type_ids": np.zeros_like(ids), "attention_mask": np.ones_like(ids)}
        terms, weights = session.run(list(ANSERINI_OUTPUTS), feed)
        vector = np.zeros(encoder.vocab_size, np.float32)
        vector[terms] = weights
        reference = encoder.encode_texts([text], max_length)[0].float().cpu().numpy()
        difference = max(difference, float(np.abs(vector - reference).max()))
    if not difference <= CHECK_TOLERANCE:
        raise SpladeError(
            f"{path.name}: onnxruntime's vectors differ from torch's by {difference:.3g}; nothing was written"
        )
    return difference


def _inference_free_side(model: Splade, tokenizer: str, folder: Path) -> dict:
    """The query side that has no network: its tokenizer and each token's weight in a query vector
    (`QUERY_WEIGHTS`, float32 [vocab]: 1.0 a token and 0.0 a special one for a bag of tokens, the
    static weights of a SparseStaticEmbedding-style side), written beside the graphs."""
    bag: BagOfTokensEncoder = model.encoder_for("query")[0]
    np.save(folder / QUERY_WEIGHTS, bag.token_weights().numpy().astype(np.float32), allow_pickle=False)
    return {
        "file": None,
        "inference_free": True,
        "tokenizer": tokenizer,
        "max_length": model.query_max_length,
        "weights": QUERY_WEIGHTS,
        "vector": "weights[t] at each distinct token t of the query's tokenization, the tokens the tokenizer"
        " adds around a text ([CLS], [SEP]) left out (no network)",
        "special_ids": bag.special_ids.tolist(),
    }


class OnnxEncoder:
    """One exported graph run by onnxruntime on CPU: texts -> vectors [texts, vocab] (float32)."""

    def __init__(self, path: str | os.PathLike, tokenizer, max_length: int, threads: int | None = None):
        require_onnx()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [node.name for node in self.session.get_inputs()]
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def load(cls, folder: str | os.PathLike, side: str = "doc", threads: int | None = None) -> OnnxEncoder:
        """The `side` ('doc' or 'query') encoder of an export folder."""
        from transformers import AutoTokenizer

        folder = Path(folder)
        if not (folder / ONNX_CONFIG).is_file():
            raise SpladeError(f"{folder}: not an ONNX export (no {ONNX_CONFIG})")
        entry = read_json(folder / ONNX_CONFIG)["sides"][side]
        if entry["file"] is None:
            raise SpladeError(f"{folder}: the {side} side is inference-free (no network to run)")
        tokenizer = AutoTokenizer.from_pretrained(str(folder / entry["tokenizer"]))
        return cls(folder / entry["file"], tokenizer, entry["max_length"], threads)

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """One padded batch of `texts`, truncated to max_length."""
        inputs = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np")
        feed = {name: np.asarray(inputs[name], dtype=np.int64) for name in self.names}
        return self.session.run([OUTPUT_NAME], feed)[0]

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Vectors of `texts` in input order, batched by length (longest first) as `splade encode`
        batches them, so that padding costs almost nothing."""
        tokens = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]), reverse=True)
        out = np.zeros((len(tokens), self.session.get_outputs()[0].shape[1]), np.float32)
        for begin in range(0, len(order), batch_size):
            batch = order[begin : begin + batch_size]
            padded = self.tokenizer.pad({"input_ids": [tokens[i] for i in batch]}, return_tensors="np")
            feed = {"input_ids": padded["input_ids"], "attention_mask": padded["attention_mask"]}
            if "token_type_ids" in self.names:
                feed["token_type_ids"] = np.zeros_like(padded["input_ids"])
            out[batch] = self.session.run([OUTPUT_NAME], {k: np.asarray(v, np.int64) for k, v in feed.items()})[0]
        return out
