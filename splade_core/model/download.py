"""The download stage's models (`splade download model`, the download_model rule): an HF id, a
local folder or `bundled/<name>` copied under `resources/models/<key>/` (the layout and the
manifest of `splade_core.data.download`), and checked to load as a job will: offline, from
safetensors only (loading a file never runs code)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..data.collections import MANIFEST
from ..data.download import MODEL_FORMAT, entry_lock, model_dir, reusable_entry, write_manifest
from ..errors import SpladeError
from ..io import atomic_dir, remove_stale_temps
from ..registry import local_path, resolve_model
from .encoder import Splade

MODEL_KINDS = ("splade", "cross-encoder")
# What a model folder needs: configs, tokenizer files and safetensors weights (no pickled .bin
# weights), for a separate query encoder too.
MODEL_FILES = ("*.json", "*.txt", "*.model", "*.safetensors")


def download_model(spec: str, resources: str | Path, kind: str = "splade") -> dict:
    """A model (HF id, local folder or bundled/<name>) as a local HF folder, checked to load."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {MODEL_KINDS}, not {kind!r}")
    folder = model_dir(resources, spec)
    with entry_lock(folder):
        if reusable_entry(folder, MODEL_FORMAT, spec) is not None:
            return {"path": str(folder), "reused": True}
        remove_stale_temps(folder)
        source = resolve_model(spec)
        with atomic_dir(folder) as tmp:
            if (local := local_path(source)) is not None:
                if not local.is_dir():
                    raise SpladeError(f"unknown model path {spec!r}: no such directory")
                _copy_model_files(local, tmp)
            else:
                _hub_download(source, tmp)
            parameters = _check_model(tmp, kind, spec)
            write_manifest(tmp, {"format": MODEL_FORMAT, "source": spec, "kind": kind, "parameters": parameters})
        return {"path": str(folder), "reused": False, "parameters": parameters}


def _copy_model_files(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_file() and any(relative.match(pattern) for pattern in MODEL_FILES) and path.name != MANIFEST:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)


def _hub_download(repo_id: str, target: Path) -> None:
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo_id=repo_id, local_dir=target, allow_patterns=list(MODEL_FILES))
    except Exception as exc:  # offline, unknown repo, gated, rate limited: all end the same way
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpladeError(f"cannot download model {repo_id!r} from the Hugging Face hub: {first_line}") from None
    shutil.rmtree(target / ".cache", ignore_errors=True)  # huggingface_hub's bookkeeping


def _check_model(folder: Path, kind: str, spec: str) -> int:
    """Load the downloaded folder as a job will (offline, safetensors only); its parameter count."""
    if not any(folder.rglob("*.safetensors")):
        raise SpladeError(f"model {spec!r}: no safetensors weights (pickled .bin weights are not loaded)")
    if kind == "splade":
        model = Splade.from_pretrained(folder)
    else:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            AutoTokenizer.from_pretrained(folder)
            model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True)
        except Exception as exc:  # missing files, bad configs, weights torch or safetensors refuse
            raise SpladeError(f"model {spec!r}: not a cross-encoder ({str(exc).strip().splitlines()[0]})") from None
    return sum(p.numel() for p in model.parameters())
