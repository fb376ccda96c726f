// Block-Max Pruning (Mallia, Suel & Tonellotto, "Faster Learned Sparse Retrieval with Block-Max
// Pruning", SIGIR 2024), over term-major posting lists. Documents are cut into doc-range blocks
// of block_size ids; a block's upper bound is the sum over query terms of weight * the term's
// largest impact in the block, read from the stored block-max rows of frequent terms and
// computed from the postings of the others (decoded once, into a buffer that the scoring pass
// then reads). The blocks with the highest bounds are scored first, one by one, to raise the
// k-th score early. The rest is grouped in windows of 16K documents (or 64 blocks, if more),
// taken in decreasing order of their best block bound, in waves growing fourfold, each wave in
// doc order so cursors only move forward. Inside a window, only blocks whose bound reaches the
// current k-th score are live: posting blocks that touch no live block are not decoded, the
// rest are added term-at-a-time into a window-sized accumulator, and live blocks are then
// collected into the top-k queue. The search stops when no window bound reaches the k-th score.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "splade/query/query.hpp"

namespace splade {

// Per-thread buffers of the algorithm.
template <class Score>
struct bmp_scratch {
    std::vector<Score> ub, window_ub, acc;
    std::vector<std::uint64_t> live;  // live flags of one window's blocks
    std::vector<std::uint32_t> order, wave;
    std::vector<block_walker> dense;
    block_buffer buffer;
    std::vector<doc_t> sparse_docs;            // postings of the terms without block-max rows,
    std::vector<std::uint32_t> sparse_impacts;  // term after term (only grown: resizing zero-fills)
    std::vector<std::uint64_t> sparse_begin, sparse_pos;  // per such term: start, cursor
    std::vector<std::uint32_t> sparse_weight;
    std::vector<std::uint8_t> in_bound;  // per query term: whether it enters the block bounds
};

template <class Score>
struct bmp_query {
    static constexpr unsigned window_log2 = 14;  // 16K documents: a 64 KiB accumulator of uint32
    static constexpr std::uint64_t seed_blocks = 64;  // at most this many blocks scored one by one
    static constexpr std::uint32_t spare_slots = 16;  // see add_sparse_maxima; a power of two
    static_assert((spare_slots & (spare_slots - 1)) == 0);

    const inverted_index& index;
    bmp_scratch<Score>& s;
    prune_rule rule;
    // Blocks per window: a multiple of 64, so that the live flags are whole words.
    const std::uint64_t window_blocks =
        index.block_shift() + 6 < window_log2 ? std::uint64_t{1} << (window_log2 - index.block_shift()) : 64;

    void operator()(const std::vector<query_term>& terms, topk_queue<Score>& topk) {
        const std::uint64_t n_blocks = index.n_doc_blocks();
        s.live.resize(window_blocks / 64);
        block_bounds(terms, n_blocks);
        s.acc.resize(std::max(window_blocks, seed_blocks) << index.block_shift());
        score_seeds(topk.k(), topk);
        const std::uint64_t n_windows = (n_blocks + window_blocks - 1) / window_blocks;
        s.window_ub.assign(n_windows, 0);
        for (std::uint64_t w = 0; w < n_windows; ++w) {
            const Score* u = s.ub.data() + w * window_blocks;
            const std::uint64_t n = std::min(window_blocks, n_blocks - w * window_blocks);
            Score best = 0;
            for (std::uint64_t j = 0; j < n; ++j) best = std::max(best, u[j]);
            s.window_ub[w] = best;
        }
        const std::vector<Score>& window_ub = s.window_ub;
        s.order.clear();
        for (std::uint64_t w = 0; w < n_windows; ++w)
            if (!rule.prunes(window_ub[w], topk.threshold())) s.order.push_back(static_cast<std::uint32_t>(w));
        std::sort(s.order.begin(), s.order.end(), [&](std::uint32_t a, std::uint32_t b) {
            return window_ub[a] > window_ub[b] || (window_ub[a] == window_ub[b] && a < b);
        });
        std::size_t next = 0, size = 1;
        while (next < s.order.size() && !rule.prunes(window_ub[s.order[next]], topk.threshold())) {
            const std::size_t end = std::min(s.order.size(), next + size);
            s.wave.assign(s.order.begin() + static_cast<std::ptrdiff_t>(next),
                          s.order.begin() + static_cast<std::ptrdiff_t>(end));
            std::sort(s.wave.begin(), s.wave.end());
            rewind();
            for (std::uint32_t w : s.wave)
                if (!rule.prunes(window_ub[w], topk.threshold()))
                    score_blocks(std::uint64_t{w} * window_blocks, window_blocks, topk);
            next = end;
            size *= 4;
        }
    }

private:
    // First position in [p, end) with docs[pos] >= target, searching outward from p.
    static std::uint64_t gallop(const doc_t* docs, std::uint64_t p, std::uint64_t end, doc_t target) {
        std::uint64_t step = 1;
        while (p + step < end && docs[p + step] < target) {
            p += step;
            step *= 2;
        }
        const std::uint64_t limit = std::min(end, p + step + 1);
        return static_cast<std::uint64_t>(std::lower_bound(docs + p, docs + limit, target) - docs);
    }

    // u[block] += w * (largest impact of the term in the block), for every term without a
    // block-max row and every block it occurs in, from its decoded postings. Taken a range of
    // blocks at a time, so that the part of u being updated stays in L1, and two terms at a
    // time, so that the running maxima of two terms (a serial chain each) overlap.
    // Branch-free, since whether a posting ends its block's run is data-dependent and would
    // mispredict often: the last posting of each run adds the run's maximum into u[block], the
    // others add into one of the spare slots past the blocks, in turn, so that consecutive
    // stores do not wait for one another.
    void add_sparse_maxima(Score* u, std::uint64_t n_blocks) {
        constexpr std::uint64_t chunk_blocks = 16384 / sizeof(Score);
        const unsigned shift = index.block_shift();
        const doc_t* docs = s.sparse_docs.data();  // holds one slot past the last posting
        const std::uint32_t* impacts = s.sparse_impacts.data();
        const auto spare = static_cast<std::uint32_t>(n_blocks);
        struct run {
            std::uint64_t i, end;
            Score w;
            std::uint32_t best;
        };
        auto step = [&](run& r) {
            const std::uint32_t b = docs[r.i] >> shift;
            const std::uint32_t same =
                0u - static_cast<std::uint32_t>((r.i + 1 < r.end) & ((docs[r.i + 1] >> shift) == b));
            r.best = std::max(r.best, impacts[r.i]);
            const std::uint32_t slot = spare + (static_cast<std::uint32_t>(r.i) & (spare_slots - 1));
            u[(b & ~same) | (slot & same)] += r.w * r.best;
            r.best &= same;
            ++r.i;
        };
        rewind_sparse();
        const std::size_t n_terms = s.sparse_weight.size();
        for (std::uint64_t lo = 0; lo < n_blocks; lo += chunk_blocks) {
            const std::uint64_t hi = (lo + chunk_blocks) << shift;
            auto in_chunk = [&](const run& r) { return r.i < r.end && docs[r.i] < hi; };
            for (std::size_t t = 0; t < n_terms; t += 2) {
                run a{s.sparse_pos[t], s.sparse_begin[t + 1], s.sparse_weight[t], 0};
                run b = t + 1 < n_terms ? run{s.sparse_pos[t + 1], s.sparse_begin[t + 2], s.sparse_weight[t + 1], 0}
                                        : run{0, 0, 0, 0};
                while (in_chunk(a) && in_chunk(b)) {
                    step(a);
                    step(b);
                }
                while (in_chunk(a)) step(a);
                while (in_chunk(b)) step(b);
                s.sparse_pos[t] = a.i;
                if (t + 1 < n_terms) s.sparse_pos[t + 1] = b.i;
            }
        }
    }

    static void add_row(const std::uint8_t* __restrict row, std::uint64_t n, Score f, Score* __restrict u) {
        for (std::uint64_t b = 0; b < n; ++b) u[b] += Score{row[b]} * f;
    }

    // Which terms' block maxima enter the block bounds: all, unless rule.bound_share < 1 (the
    // approximate knob), which leaves out the terms of smallest weight * max impact as long as
    // the ones kept reach that share of the sum over all terms. Terms left out still score.
    void bound_terms(const std::vector<query_term>& terms) {
        s.in_bound.assign(terms.size(), 1);
        if (rule.bound_share >= 1.0) return;
        const auto reach = [&](std::uint32_t t) { return std::uint64_t{terms[t].weight} * terms[t].list.max_impact; };
        s.order.resize(terms.size());
        double total = 0;
        for (std::uint32_t t = 0; t < terms.size(); ++t) {
            s.order[t] = t;
            total += static_cast<double>(reach(t));
        }
        std::sort(s.order.begin(), s.order.end(), [&](std::uint32_t a, std::uint32_t b) {
            return reach(a) > reach(b) || (reach(a) == reach(b) && a < b);
        });
        double kept = 0;
        for (std::uint32_t t : s.order) {
            if (kept >= rule.bound_share * total) s.in_bound[t] = 0;
            kept += static_cast<double>(reach(t));
        }
    }

    void block_bounds(const std::vector<query_term>& terms, std::uint64_t n_blocks) {
        s.ub.assign(n_blocks + spare_slots, 0);
        Score* u = s.ub.data();
        s.dense.clear();
        bound_terms(terms);
        std::uint64_t sparse_postings = 0;
        for (std::size_t t = 0; t < terms.size(); ++t)
            sparse_postings += terms[t].list.block_max || !s.in_bound[t] ? 0 : terms[t].list.df;
        if (s.sparse_docs.size() <= sparse_postings) {
            s.sparse_docs.resize(sparse_postings + 1);
            s.sparse_impacts.resize(sparse_postings + 1);
        }
        s.sparse_begin.assign(1, 0);
        s.sparse_weight.clear();
        for (std::size_t t = 0; t < terms.size(); ++t) {
            const query_term& term = terms[t];
            const posting_list& list = term.list;
            const Score w = term.weight;
            if (list.block_max || !s.in_bound[t]) {  // scored by a walker, decoding lazily
                s.dense.emplace_back(list, term.weight);
                if (!s.in_bound[t]) continue;
                // uint16 rows hold ceil(max * 255 / term max)
                const Score f = index.impact_bytes() == 1
                                    ? w
                                    : static_cast<Score>((std::uint64_t{term.weight} * list.max_impact + 254) / 255);
                add_row(list.block_max, n_blocks, f, u);
                continue;
            }
            const std::size_t begin = s.sparse_begin.back();
            doc_t* docs = s.sparse_docs.data() + begin;
            std::uint32_t* impacts = s.sparse_impacts.data() + begin;
            for (std::uint64_t b = 0; b < list.n_blocks; ++b) {
                const std::uint32_t n = decode_docs(list, b, docs);
                decode_impacts(list, b, impacts);
                docs += n;
                impacts += n;
            }
            s.sparse_begin.push_back(begin + list.df);
            s.sparse_weight.push_back(term.weight);
        }
        s.sparse_pos.resize(s.sparse_weight.size());
        add_sparse_maxima(u, n_blocks);
        s.ub.resize(n_blocks);
    }

    void rewind() {
        for (block_walker& walker : s.dense) walker.reset();
        rewind_sparse();
    }

    void rewind_sparse() { std::copy(s.sparse_begin.begin(), s.sparse_begin.end() - 1, s.sparse_pos.begin()); }

    // Scores first the blocks with the highest bounds, one by one, so that the k-th score is
    // high before the first window is taken; they are then taken out (bound 0).
    void score_seeds(std::size_t k, topk_queue<Score>& topk) {
        const std::uint64_t n_blocks = s.ub.size();
        const std::uint64_t n_seeds = std::min<std::uint64_t>(
            {n_blocks, seed_blocks, std::max<std::uint64_t>(8, (2 * k) >> index.block_shift())});
        if (n_seeds == 0) return;
        // The n_seeds best blocks (ties to the smaller block) in one pass: a min-heap of the
        // best so far, whose root is the only comparison most blocks need.
        const Score* ub = s.ub.data();
        auto higher = [ub](std::uint32_t a, std::uint32_t b) { return ub[a] > ub[b] || (ub[a] == ub[b] && a < b); };
        s.wave.clear();
        for (std::uint32_t b = 0; b < n_blocks; ++b) {
            if (s.wave.size() < n_seeds) {
                s.wave.push_back(b);
                std::push_heap(s.wave.begin(), s.wave.end(), higher);
            } else if (ub[b] > ub[s.wave.front()]) {  // a tie loses to the earlier block
                std::pop_heap(s.wave.begin(), s.wave.end(), higher);
                s.wave.back() = b;
                std::push_heap(s.wave.begin(), s.wave.end(), higher);
            }
        }
        std::sort(s.wave.begin(), s.wave.end());
        rewind();
        for (std::uint32_t b : s.wave) {
            if (rule.prunes(s.ub[b], topk.threshold())) continue;
            score_blocks(b, 1, topk);
            s.ub[b] = 0;
        }
    }

    // Scores the live blocks among [first, first + count) (at most window_blocks of them).
    void score_blocks(std::uint64_t first, std::uint64_t count, topk_queue<Score>& topk) {
        const unsigned shift = index.block_shift();
        count = std::min(count, index.n_doc_blocks() - first);
        const Score threshold = topk.threshold();
        std::uint64_t* live = s.live.data();
        std::fill(s.live.begin(), s.live.end(), 0);
        bool any = false;
        for (std::uint64_t j = 0; j < count; ++j) {
            if (!rule.prunes(s.ub[first + j], threshold)) {
                live[j / 64] |= std::uint64_t{1} << (j % 64);
                any = true;
            }
        }
        if (!any) return;
        const auto lo = static_cast<doc_t>(first << shift);
        const doc_t hi = std::min<doc_t>(index.n_docs(), static_cast<doc_t>((first + count) << shift));
        Score* acc = s.acc.data();
        // Only live blocks are zeroed and read; postings that land in dead blocks add to
        // garbage that nobody reads (unsigned, so wrapping is harmless).
        auto run_docs = [&](std::uint64_t b, std::uint64_t e) {  // window offsets of blocks [b, e)
            const auto end = std::min<doc_t>(hi - lo, static_cast<doc_t>(e << shift));
            return std::make_pair(static_cast<doc_t>(b << shift), end);
        };
        for_live_runs(live, count, [&](std::uint64_t b, std::uint64_t e) {
            const auto [begin, end] = run_docs(b, e);
            std::memset(acc + begin, 0, sizeof(Score) * (end - begin));
        });
        for (block_walker& walker : s.dense) walker.accumulate(lo, hi, live, shift, acc, s.buffer);
        for (std::size_t t = 0; t < s.sparse_weight.size(); ++t) {
            const doc_t* docs = s.sparse_docs.data();
            const std::uint32_t* impacts = s.sparse_impacts.data();
            const Score weight = s.sparse_weight[t];
            std::uint64_t p = s.sparse_pos[t];
            const std::uint64_t end = s.sparse_begin[t + 1];
            if (p < end && docs[p] < lo) p = gallop(docs, p, end, lo);
            const std::uint64_t stop = p < end && docs[p] < hi ? gallop(docs, p, end, hi) : p;
            add_postings(docs, impacts, p, stop, lo, weight, acc);
            s.sparse_pos[t] = stop;
        }
        for_live_runs(live, count, [&](std::uint64_t b, std::uint64_t e) {
            const auto [begin, end] = run_docs(b, e);
            collect(acc + begin, end - begin, lo + begin, topk, false);
        });
    }

    // Calls f(begin, end) for each run of consecutive live blocks among the first count.
    template <class F>
    static void for_live_runs(const std::uint64_t* live, std::uint64_t count, F&& f) {
        std::uint64_t j = 0;
        while ((j = next_live(live, j, count)) < count) {
            std::uint64_t end = j + 1;
            while (end < count && (live[end / 64] >> (end % 64) & 1)) ++end;
            f(j, end);
            j = end;
        }
    }

    // First live block at or after j (count if none).
    static std::uint64_t next_live(const std::uint64_t* live, std::uint64_t j, std::uint64_t count) {
        while (j < count) {
            const std::uint64_t word = live[j / 64] >> (j % 64);
            if (word) return std::min(count, j + static_cast<std::uint64_t>(__builtin_ctzll(word)));
            j = (j / 64 + 1) * 64;
        }
        return count;
    }
};

}  // namespace splade
