# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Static pruning of CSR sparse vectors, without the GIL.

Lassance, Lupart, Déjean, Clinchant, Nardini, "A Static Pruning Study on Sparse Neural
Retrievers", SIGIR 2023. Each kernel marks the entries to keep in a uint8 mask (one byte per
entry); `row_counts` and `compact` then write the kept entries, in their input order, to new
CSR arrays.

Ranking rule shared by the top-k selections: heavier weight first; on equal weights the
smaller term id (document-centric) or the smaller row, i.e. document index (term-centric);
then the earlier entry. The rule is a total order, so the kept set never depends on how the
selection ran.
"""

from libc.math cimport floor
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t
from libc.stdlib cimport free, malloc

import numpy as np

ctypedef fused weight_t:
    uint8_t
    uint16_t
    float


cdef inline bint _before(
    const weight_t* data, const int32_t* indices, bint by_term, int64_t a, int64_t b
) noexcept nogil:
    """True when entry a ranks before entry b."""
    if data[a] != data[b]:
        return data[a] > data[b]
    if by_term and indices[a] != indices[b]:
        return indices[a] < indices[b]
    return a < b


cdef Py_ssize_t _select_top(
    const weight_t* data,
    const int32_t* indices,
    bint by_term,
    const int64_t* candidates,
    Py_ssize_t n,
    Py_ssize_t k,
    int64_t* heap,
) noexcept nogil:
    """Put the positions of the k best candidates in heap[0:min(n, k)], the worst at heap[0].

    A bounded heap whose root is the last-ranked kept entry: O(n log k).
    """
    cdef Py_ssize_t size = 0, i, child, parent, node
    cdef int64_t pos, tmp
    if k <= 0:
        return 0
    for i in range(n):
        pos = candidates[i]
        if size < k:
            node = size
            heap[node] = pos
            size += 1
            while node > 0:
                parent = (node - 1) >> 1
                if not _before(data, indices, by_term, heap[parent], heap[node]):
                    break
                tmp = heap[parent]
                heap[parent] = heap[node]
                heap[node] = tmp
                node = parent
        elif _before(data, indices, by_term, pos, heap[0]):
            heap[0] = pos
            node = 0
            while True:
                child = 2 * node + 1
                if child >= size:
                    break
                if child + 1 < size and _before(data, indices, by_term, heap[child], heap[child + 1]):
                    child += 1
                if not _before(data, indices, by_term, heap[node], heap[child]):
                    break
                tmp = heap[child]
                heap[child] = heap[node]
                heap[node] = tmp
                node = child
    return size


def document_topk(
    const int64_t[::1] indptr,
    const int32_t[::1] indices,
    const weight_t[::1] data,
    Py_ssize_t k,
    uint8_t[::1] keep,
):
    """Mark the k best entries of each row (all of a row with at most k entries)."""
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1
    cdef Py_ssize_t row, n, i, kept, longest = 0
    cdef int64_t start
    cdef int64_t* candidates
    cdef int64_t* heap
    if data.shape[0] == 0:
        return
    for row in range(n_rows):
        longest = max(longest, indptr[row + 1] - indptr[row])
    candidates = <int64_t*>malloc(max(longest, 1) * sizeof(int64_t))
    heap = <int64_t*>malloc(max(min(longest, k), 1) * sizeof(int64_t))
    if candidates == NULL or heap == NULL:
        free(candidates)
        free(heap)
        raise MemoryError()
    with nogil:
        for row in range(n_rows):
            start = indptr[row]
            n = indptr[row + 1] - start
            if n <= k:
                for i in range(n):
                    keep[start + i] = 1
                continue
            for i in range(n):
                candidates[i] = start + i
            kept = _select_top(&data[0], &indices[0], True, candidates, n, k, heap)
            for i in range(kept):
                keep[heap[i]] = 1
    free(candidates)
    free(heap)


cdef void _group_by_term(
    const int64_t* indptr,
    Py_ssize_t n_rows,
    const int32_t* indices,
    int64_t* term_ptr,
    int64_t* positions,
    Py_ssize_t vocab_size,
) noexcept nogil:
    """Entry positions grouped by term (a counting sort), each group in row order."""
    cdef Py_ssize_t t
    cdef int64_t pos, total = 0, count
    for pos in range(indptr[n_rows]):
        term_ptr[indices[pos] + 1] += 1
    for t in range(vocab_size):
        count = term_ptr[t + 1]
        term_ptr[t + 1] = total + count
        total += count
    # term_ptr[t] now points at the start of term t's group; advance it while filling, then
    # shift back so that term_ptr[t]..term_ptr[t + 1] delimits the group again.
    for pos in range(indptr[n_rows]):
        positions[term_ptr[indices[pos]]] = pos
        term_ptr[indices[pos]] += 1
    for t in range(vocab_size, 0, -1):
        term_ptr[t] = term_ptr[t - 1]
    term_ptr[0] = 0


def term_select(
    const int64_t[::1] indptr,
    const int32_t[::1] indices,
    const weight_t[::1] data,
    Py_ssize_t vocab_size,
    Py_ssize_t k,
    double quantile,
    uint8_t[::1] keep,
):
    """Mark, per term, its k best postings (quantile < 0) or those at or above a quantile.

    With 0 <= quantile <= 1 the threshold of a posting list of n weights is its sorted value
    at index floor(quantile * (n - 1)) (numpy.quantile's method="lower"), and every posting
    weighing at least the threshold is kept, ties included.
    """
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1
    cdef Py_ssize_t t, n, i, kept, m, longest = 0
    cdef int64_t start
    cdef double threshold
    cdef int64_t* heap
    if data.shape[0] == 0:
        return
    term_ptr = np.zeros(vocab_size + 1, dtype=np.int64)
    positions = np.empty(data.shape[0], dtype=np.int64)
    cdef int64_t[::1] term_ptr_view = term_ptr
    cdef int64_t[::1] positions_view = positions
    with nogil:
        _group_by_term(&indptr[0], n_rows, &indices[0], &term_ptr_view[0], &positions_view[0], vocab_size)
    for t in range(vocab_size):
        longest = max(longest, term_ptr_view[t + 1] - term_ptr_view[t])
    heap = <int64_t*>malloc(max(longest, 1) * sizeof(int64_t))
    if heap == NULL:
        raise MemoryError()
    with nogil:
        for t in range(vocab_size):
            start = term_ptr_view[t]
            n = term_ptr_view[t + 1] - start
            if n == 0:
                continue
            if quantile < 0:
                if n <= k:
                    for i in range(n):
                        keep[positions_view[start + i]] = 1
                    continue
                kept = _select_top(&data[0], &indices[0], False, &positions_view[start], n, k, heap)
                for i in range(kept):
                    keep[heap[i]] = 1
            else:
                m = n - <Py_ssize_t>floor(quantile * <double>(n - 1))
                _select_top(&data[0], &indices[0], False, &positions_view[start], n, m, heap)
                threshold = data[heap[0]]
                for i in range(n):
                    if data[positions_view[start + i]] >= threshold:
                        keep[positions_view[start + i]] = 1
    free(heap)


def at_least(const weight_t[::1] data, double threshold, uint8_t[::1] keep):
    """Mark the entries whose weight is at least the threshold."""
    cdef Py_ssize_t pos
    with nogil:
        for pos in range(data.shape[0]):
            if data[pos] >= threshold:
                keep[pos] = 1


def row_counts(const int64_t[::1] indptr, const uint8_t[::1] keep):
    """Number of kept entries in each row (int64 array of n_rows)."""
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1
    counts = np.zeros(n_rows, dtype=np.int64)
    cdef int64_t[::1] counts_view = counts
    cdef Py_ssize_t row
    cdef int64_t pos, kept
    with nogil:
        for row in range(n_rows):
            kept = 0
            for pos in range(indptr[row], indptr[row + 1]):
                kept += keep[pos]
            counts_view[row] = kept
    return counts


def compact(
    const int64_t[::1] indptr,
    const int32_t[::1] indices,
    const weight_t[::1] data,
    const uint8_t[::1] keep,
    const int64_t[::1] out_indptr,
    int32_t[::1] out_indices,
    weight_t[::1] out_data,
):
    """Write the kept entries of each row at out_indptr[row] onwards, in input order."""
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1
    cdef Py_ssize_t row
    cdef int64_t pos, out
    with nogil:
        for row in range(n_rows):
            out = out_indptr[row]
            for pos in range(indptr[row], indptr[row + 1]):
                if keep[pos]:
                    out_indices[out] = indices[pos]
                    out_data[out] = data[pos]
                    out += 1
