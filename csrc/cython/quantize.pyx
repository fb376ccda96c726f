# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Float CSR → integer impacts, one pass per row, without the GIL.

Rule: q = clip(rint(w * scale), 0, max_value), where rint rounds to the nearest integer and
ties to even (IEEE default, like numpy.rint and Python's round). Entries with q == 0 are
dropped, so the output has its own indptr.
"""

from libc.math cimport rint
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t

import numpy as np

ctypedef fused impact_t:
    uint8_t
    uint16_t


cdef inline double _quantize_one(float w, double scale, double max_value) noexcept nogil:
    cdef double q = rint(<double>w * scale)
    if q > max_value:
        return max_value
    if q < 0:
        return 0
    return q


def count_kept(const int64_t[::1] indptr, const float[::1] data, double scale, double max_value):
    """Number of non-zero quantized entries in each row (int64 array of n_rows)."""
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1
    counts = np.zeros(n_rows, dtype=np.int64)
    cdef int64_t[::1] counts_view = counts
    cdef Py_ssize_t row
    cdef int64_t pos, kept
    with nogil:
        for row in range(n_rows):
            kept = 0
            for pos in range(indptr[row], indptr[row + 1]):
                if _quantize_one(data[pos], scale, max_value) > 0:
                    kept += 1
            counts_view[row] = kept
    return counts


def fill_quantized(
    const int64_t[::1] indptr,
    const int32_t[::1] indices,
    const float[::1] data,
    double scale,
    double max_value,
    const int64_t[::1] out_indptr,
    int32_t[::1] out_indices,
    impact_t[::1] out_data,
):
    """Write the kept entries of each row at out_indptr[row] onwards."""
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1
    cdef Py_ssize_t row
    cdef int64_t pos, out
    cdef double q
    with nogil:
        for row in range(n_rows):
            out = out_indptr[row]
            for pos in range(indptr[row], indptr[row + 1]):
                q = _quantize_one(data[pos], scale, max_value)
                if q > 0:
                    out_indices[out] = indices[pos]
                    out_data[out] = <impact_t>q
                    out += 1
