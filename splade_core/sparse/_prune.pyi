import numpy as np

def document_topk(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, k: int, keep: np.ndarray) -> None: ...
def term_select(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    vocab_size: int,
    k: int,
    quantile: float,
    keep: np.ndarray,
) -> None: ...
def at_least(data: np.ndarray, threshold: float, keep: np.ndarray) -> None: ...
def row_counts(indptr: np.ndarray, keep: np.ndarray) -> np.ndarray: ...
def compact(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    keep: np.ndarray,
    out_indptr: np.ndarray,
    out_indices: np.ndarray,
    out_data: np.ndarray,
) -> None: ...
