"""Type stub of the compiled engine (csrc/bindings/index.cpp); use InvertedIndex instead."""

import numpy as np

ALGORITHMS: tuple[str, ...]

class IndexFormatError(ValueError): ...

class BPCollector:
    def __init__(self, vocab_size: int) -> None: ...
    def reserve(self, n_docs: int, nnz: int) -> None: ...
    def add(
        self,
        indptr: np.ndarray,  # int64, rows + 1, from 0
        indices: np.ndarray,  # uint32 term ids < vocab_size
        data: np.ndarray,  # uint8 or uint16 impacts
    ) -> None: ...
    @property
    def n_docs(self) -> int: ...
    def order(
        self,
        block_size: int,
        min_partition: int,
        max_depth: int,
        iterations: int,
        min_df: int,
        max_df_ratio: float,
        seed: int,
        threads: int,
    ) -> np.ndarray: ...  # uint32 permutation of the rows added

class Index:
    @staticmethod
    def build(
        indptr: np.ndarray,  # int64, n_docs + 1
        indices: np.ndarray,  # uint32 term ids < vocab_size
        data: np.ndarray,  # uint8 or uint16 impacts
        vocab_size: int,
        doc_id_offsets: np.ndarray,
        doc_id_bytes: np.ndarray,
        block_size: int,
        dense_min_df: int,
        scale: float,
        threads: int,
        doc_order: np.ndarray | None = None,
        order_kind: str = "given",
        pass_entries: int = ...,
        metadata: str = "",  # UTF-8 JSON describing the documents, stored as is
    ) -> Index: ...
    @staticmethod
    def load(path: str, verify: bool = True) -> Index: ...
    def save(self, path: str) -> None: ...
    def search(
        self,
        indptr: np.ndarray,  # int64, n_queries + 1
        indices: np.ndarray,  # int64 term ids >= 0
        data: np.ndarray,  # int64 weights in [0, 65535]
        k: int,
        algorithm: str,
        threads: int,
        alpha: float,
        term_ratio: float,
        bound_share: float = 1.0,
        query_cut: int = 10,  # clustered only
        heap_factor: float = 1.0,  # clustered only
    ) -> tuple[np.ndarray, np.ndarray]: ...  # doc_idx int32 [nq, k], scores int64 [nq, k]
    def with_clusters(
        self,
        n_postings: int,
        max_share: float,
        centroid_fraction: float,
        doc_cut: int,
        summary_energy: float,
        min_cluster: int,
        seed: int,
        threads: int,
    ) -> Index: ...  # the same index (bytes shared) with the clustered sections of approximate search
    def stats(self) -> dict: ...
    def doc_id_offsets(self) -> np.ndarray: ...
    def doc_id_bytes(self) -> np.ndarray: ...
    def metadata(self) -> bytes: ...  # the JSON given to build ("" if none)
    def with_metadata(self, metadata: str) -> Index: ...  # the same index (bytes shared), other metadata
    @property
    def n_docs(self) -> int: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def n_postings(self) -> int: ...
    @property
    def n_clusters(self) -> int: ...  # clusters of the clustered sections, 0 if none
    @property
    def block_size(self) -> int: ...
    @property
    def impact_bytes(self) -> int: ...
    @property
    def scale(self) -> float: ...
