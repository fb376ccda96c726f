import numpy as np

def count_kept(indptr: np.ndarray, data: np.ndarray, scale: float, max_value: float) -> np.ndarray: ...
def fill_quantized(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    scale: float,
    max_value: float,
    out_indptr: np.ndarray,
    out_indices: np.ndarray,
    out_data: np.ndarray,
) -> None: ...
