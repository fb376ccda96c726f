import os
from pathlib import Path

import pytest

from splade_core.data import load_collection
from splade_core.errors import SpladeError


@pytest.mark.parametrize("split,queries,judgments", [("test", 300, 339), ("train", 809, 919)])
def test_embedded_scifact_resolves_through_ir_datasets_offline(split, queries, judgments):
    collection = load_collection(f"beir/scifact/{split}")
    qrels = collection.qrels()
    assert len(collection.queries()) == queries and sum(map(len, qrels.values())) == judgments
    assert collection.doc_count() == 5183
    archive = Path(os.environ["IR_DATASETS_HOME"]) / "beir" / "scifact" / "source.zip"
    assert archive.is_file()
    doc_id, text = next(collection.docs())
    assert doc_id == "4983" and text.startswith("Microstructural development of human newborn cerebral white matter")


def test_bundled_cranfield_has_graded_judgments():
    collection = load_collection("bundled/cranfield")
    assert collection.doc_count() == 1400 and len(collection.queries()) == 225
    assert max(max(d.values()) for d in collection.qrels().values()) >= 3


def test_beir_folder_and_split_suffix(tiny_beir):
    collection = load_collection(f"{tiny_beir}:test")
    assert collection.doc_count() == 31 and len(collection.queries()) == 6
    with pytest.raises(SpladeError, match="no qrels for split 'dev'"):
        load_collection(f"{tiny_beir}:dev").qrels()


def test_unknown_dataset_id_is_one_clear_error():
    with pytest.raises(SpladeError, match="unknown dataset 'no-such/dataset'"):
        load_collection("no-such/dataset")


def test_folder_without_corpus_is_rejected(tmp_path):
    with pytest.raises(SpladeError, match="not a BEIR folder"):
        load_collection(str(tmp_path))
