// Exhaustive term-at-a-time scoring: every posting of every query term is added into an
// accumulator, then scanned in doc order. No pruning; the exact baseline. The documents are
// taken in windows so that the accumulator stays cache resident.
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "splade/query/query.hpp"

namespace splade {

template <class Score>
struct exhaustive_query {
    static constexpr doc_t window = 1u << 16;  // a 256 KiB accumulator of uint32: L2-resident

    std::vector<Score>& acc;  // per-thread, one window
    std::vector<block_walker>& walkers;
    block_buffer& buffer;

    void operator()(const std::vector<query_term>& terms, doc_t n_docs, topk_queue<Score>& topk) {
        acc.resize(window);
        walkers.clear();
        for (const query_term& term : terms) walkers.emplace_back(term.list, term.weight);
        for (doc_t lo = 0; lo < n_docs; lo += std::min(window, n_docs - lo)) {
            const doc_t hi = lo + std::min(window, n_docs - lo);
            std::memset(acc.data(), 0, sizeof(Score) * (hi - lo));
            for (block_walker& walker : walkers) walker.accumulate(lo, hi, acc.data(), buffer);
            collect(acc.data(), hi - lo, lo, topk, true);
        }
    }
};

}  // namespace splade
