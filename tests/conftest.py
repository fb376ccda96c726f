import os
import tempfile
from pathlib import Path

import pytest

# Offline and hermetic: no hub access, and ir_datasets' cache in a throwaway folder.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["IR_DATASETS_HOME"] = tempfile.mkdtemp(prefix="splade-irds-")
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="splade-hf-")
os.environ.setdefault("OMP_NUM_THREADS", "2")

TESTS = Path(__file__).parent
TINY_BEIR = TESTS / "data" / "tiny-beir"
EMBEDDED_MODEL = Path(__file__).parents[1] / "splade_core" / "resources" / "models" / "splade-tiny"


@pytest.fixture(scope="session")
def tiny_beir() -> Path:
    return TINY_BEIR


@pytest.fixture(scope="session")
def splade_tiny():
    from splade_core.model import Splade

    return Splade.from_pretrained(EMBEDDED_MODEL)


def pytest_collection_modifyitems(config, items):
    """SLURM tests start a real cluster (root, apt-get): always in CI, opt-in elsewhere."""
    if os.environ.get("CI") == "true" or os.environ.get("SPLADE_TEST_SLURM") == "1":
        return
    skip = pytest.mark.skip(reason="starts a local SLURM cluster: set SPLADE_TEST_SLURM=1 (always on in CI)")
    for item in items:
        if "slurm" in item.keywords:
            item.add_marker(skip)


# Lines a test leaves for the end of the run's log (the C++ sanitizer driver's summary), so that
# CI shows what ran without -s.
RUN_SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter):
    for line in RUN_SUMMARY:
        terminalreporter.write_line(line)


def another_model(folder: Path) -> Path:
    """The embedded model with its output bias shifted: the same vocabulary and tokenizer, other
    weights (so other vectors and another fingerprint), saved at `folder`."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    mlm = AutoModelForMaskedLM.from_pretrained(EMBEDDED_MODEL)
    with torch.no_grad():
        mlm.get_output_embeddings().bias.add_(0.01)
    mlm.save_pretrained(folder)
    AutoTokenizer.from_pretrained(EMBEDDED_MODEL).save_pretrained(folder)
    return folder
