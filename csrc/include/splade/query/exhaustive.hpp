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
    // Past the window, the accumulator holds the tails of the posting blocks that straddle its
    // end (accumulate_spilling), carried over to the next window: most blocks of a list are
    // shorter than this, so a straddling block is decoded once, not twice.
    static constexpr doc_t spill = 1u << 14;

    std::vector<Score>& acc;  // per-thread, one window and its spill
    std::vector<block_walker>& walkers;
    block_buffer& buffer;

    void operator()(const std::vector<query_term>& terms, doc_t n_docs, topk_queue<Score>& topk) {
        acc.resize(window + spill);
        walkers.clear();
        for (const query_term& term : terms) walkers.emplace_back(term.list, term.weight);
        std::memset(acc.data(), 0, sizeof(Score) * std::min<std::size_t>(acc.size(), std::size_t{n_docs}));
        for (doc_t lo = 0; lo < n_docs; lo += std::min(window, n_docs - lo)) {
            const doc_t hi = lo + std::min(window, n_docs - lo);
            const doc_t end = hi + std::min(spill, n_docs - hi);  // acc holds docs [lo, end)
            for (block_walker& walker : walkers) walker.accumulate_spilling(lo, hi, end, acc.data(), buffer);
            collect(acc.data(), hi - lo, lo, topk, true);
            if (hi == n_docs) break;
            // docs [hi, end) move to the front; the rest of the next window starts at zero
            std::memmove(acc.data(), acc.data() + (hi - lo), sizeof(Score) * (end - hi));
            const doc_t next_end = std::min<doc_t>(n_docs - hi, window + spill);  // next window's extent
            if (next_end > end - hi) std::memset(acc.data() + (end - hi), 0, sizeof(Score) * (next_end - (end - hi)));
        }
    }
};

}  // namespace splade
