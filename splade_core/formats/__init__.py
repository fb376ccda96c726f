"""Interchange formats: this project's vectors to and from other engines' files.

Anserini's JsonVectorCollection and pretokenized TSV topics, CIFF (PISA, BMP, Lucene exports),
and this project's own `.npz` from elsewhere; a vocabulary maps their token strings to term ids.
`sparse/` keeps the vector files themselves and the transforms on them.
"""

from .ciff import CIFF_VERSION, CiffReader, write_ciff
from .exports import export_file, write_anserini_docs, write_anserini_queries
from .imports import detect_format, import_vectors
from .vocabulary import Vocabulary

__all__ = [
    "CIFF_VERSION",
    "CiffReader",
    "Vocabulary",
    "detect_format",
    "export_file",
    "import_vectors",
    "write_anserini_docs",
    "write_anserini_queries",
    "write_ciff",
]
