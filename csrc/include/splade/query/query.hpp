// What every query algorithm gets: the query terms (posting list + weight), the top-k queue
// and the pruning rule. Scores are exact integers: sum over matched terms of weight * impact,
// accumulated in Score (uint32_t when the query's bound fits, else uint64_t).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "splade/index.hpp"
#include "splade/postings.hpp"
#include "splade/topk_queue.hpp"

namespace splade {

// One query term: its posting list and integer weight.
struct query_term {
    posting_list list;
    std::uint32_t weight;
};

// Safe pruning keeps a candidate whose upper bound reaches the threshold. alpha < 1 (the
// approximate knob, never the default) prunes when bound * alpha falls below it instead,
// i.e. it over-estimates the threshold by 1 / alpha.
struct prune_rule {
    double alpha = 1.0;
    double bound_share = 1.0;  // < 1: approximate, see bmp_query::bound_terms

    bool exact() const { return alpha >= 1.0; }

    template <class Score>
    bool prunes(Score bound, Score threshold) const {
        return exact() ? bound < threshold : static_cast<double>(bound) * alpha < static_cast<double>(threshold);
    }
};

// acc[docs[i] - base] += w * impacts[i] for i in [begin, end). The restrict qualifiers matter:
// without them every store to acc may alias the loop bounds, which then reload each iteration.
template <class Score>
[[gnu::noinline]] void add_postings(const doc_t* __restrict docs, const std::uint32_t* __restrict impacts, std::size_t begin,
                         std::size_t end, doc_t base, Score w, Score* __restrict acc) {
#pragma GCC unroll 4
    for (std::size_t i = begin; i < end; ++i) acc[docs[i] - base] += w * impacts[i];
}

// Same for a whole block given as doc gaps: doc = prev + sum of (gap + 1) so far, with prev
// relative to base (wrapping arithmetic). The running sum is a one-cycle chain that the
// scattered adds hide, cheaper than summing the gaps with SIMD beforehand.
template <class Score>
[[gnu::noinline]] void add_gaps(const std::uint32_t* __restrict gaps, const std::uint32_t* __restrict impacts,
                                std::uint32_t n, doc_t prev, Score w, Score* __restrict acc) {
    doc_t doc = prev;
#pragma GCC unroll 4
    for (std::uint32_t i = 0; i < n; ++i) {
        doc += gaps[i] + 1;
        acc[doc] += w * impacts[i];
    }
}

// One decoded posting block, shared by all the terms of a query (a small cache footprint).
struct block_buffer {
    doc_t docs[codec_block];
    std::uint32_t impacts[codec_block];
};

// Walks the posting blocks of one list forward through doc-range windows, decoding a block
// (into a shared buffer) only when some of its postings are needed.
class block_walker {
public:
    block_walker(const posting_list& list, std::uint32_t weight) : list_(list), weight_(weight) {}

    void reset() { block_ = 0; }

    // Adds weight * impact to acc[doc - lo] for postings in [lo, hi) whose posting block touches
    // a live doc-range block (bit j of the `live` words covers docs lo + (j << shift) ...).
    template <class Score>
    void accumulate(doc_t lo, doc_t hi, const std::uint64_t* live, unsigned shift, Score* acc, block_buffer& buffer) {
        skip_to(lo);
        for (; block_ < list_.n_blocks; ++block_) {
            const doc_t first = block_ ? list_.blocks[block_ - 1].last_doc + 1 : 0;
            if (first >= hi) return;
            const doc_t last = list_.blocks[block_].last_doc;
            if (any_live(live, (std::max(first, lo) - lo) >> shift, (std::min(last, hi - 1) - lo) >> shift))
                add_block(first, last, lo, hi, acc, buffer);
            if (last >= hi) return;  // the block goes on into the next window
        }
    }

    // Adds every posting in [lo, hi).
    template <class Score>
    void accumulate(doc_t lo, doc_t hi, Score* acc, block_buffer& buffer) {
        skip_to(lo);
        for (; block_ < list_.n_blocks; ++block_) {
            const doc_t first = block_ ? list_.blocks[block_ - 1].last_doc + 1 : 0;
            if (first >= hi) return;
            const doc_t last = list_.blocks[block_].last_doc;
            add_block(first, last, lo, hi, acc, buffer);
            if (last >= hi) return;  // the block goes on into the next window
        }
    }

    // Adds every posting in [lo, hi), and the rest of the block that straddles hi if it ends
    // before spill: that block is then decoded once, its tail landing in acc[hi - lo,
    // spill - lo), which the caller carries over into the next window. A block reaching spill
    // or beyond is left for the next window, as above.
    template <class Score>
    void accumulate_spilling(doc_t lo, doc_t hi, doc_t spill, Score* acc, block_buffer& buffer) {
        skip_to(lo);
        for (; block_ < list_.n_blocks; ++block_) {
            const doc_t first = block_ ? list_.blocks[block_ - 1].last_doc + 1 : 0;
            if (first >= hi) return;
            const doc_t last = list_.blocks[block_].last_doc;
            if (last >= hi && last < spill) {
                add_block(first, last, lo, spill, acc, buffer);
                ++block_;
                return;  // the next block starts at or after hi
            }
            add_block(first, last, lo, hi, acc, buffer);
            if (last >= hi) return;  // the block goes on into the next window
        }
    }

private:
    // Whether any of the bits b0..b1 (inclusive) is set.
    static bool any_live(const std::uint64_t* live, std::uint32_t b0, std::uint32_t b1) {
        const std::uint32_t w0 = b0 / 64, w1 = b1 / 64;
        const std::uint64_t head = ~std::uint64_t{0} << (b0 % 64);
        const std::uint64_t tail = ~std::uint64_t{0} >> (63 - b1 % 64);
        if (w0 == w1) return live[w0] & head & tail;
        if (live[w0] & head) return true;
        for (std::uint32_t w = w0 + 1; w < w1; ++w)
            if (live[w]) return true;
        return live[w1] & tail;
    }

    // Adds the current block's postings that fall in [lo, hi); the block spans [first, last].
    template <class Score>
    void add_block(doc_t first, doc_t last, doc_t lo, doc_t hi, Score* acc, block_buffer& buffer) {
        if (first >= lo && last < hi && list_.blocks[block_].doc_bits <= list_.safe_bits) {
            const std::uint32_t n = decode_gaps(list_, block_, buffer.docs);
            decode_impacts(list_, block_, buffer.impacts);
            add_gaps(buffer.docs, buffer.impacts, n, first - 1 - lo, static_cast<Score>(weight_), acc);
            return;
        }
        const std::uint32_t n = decode_docs(list_, block_, buffer.docs);
        decode_impacts(list_, block_, buffer.impacts);
        const doc_t* docs = buffer.docs;
        const auto position = [&](std::uint32_t from, doc_t target) {
            return static_cast<std::uint32_t>(std::lower_bound(docs + from, docs + n, target) - docs);
        };
        const std::uint32_t begin = first < lo ? position(0, lo) : 0;
        const std::uint32_t end = last < hi ? n : position(begin, hi);
        add_postings(docs, buffer.impacts, begin, end, lo, static_cast<Score>(weight_), acc);
    }

    void skip_to(doc_t lo) {
        const block_meta* blocks = list_.blocks;
        const std::uint64_t n_blocks = list_.n_blocks;
        for (int step = 0; step < 4; ++step) {  // usually the next block or two
            if (block_ >= n_blocks || blocks[block_].last_doc >= lo) return;
            ++block_;
        }
        const auto before = [&](const block_meta& m) { return m.last_doc < lo; };
        block_ = static_cast<std::uint64_t>(std::partition_point(blocks + block_, blocks + n_blocks, before) - blocks);
    }

    posting_list list_;
    std::uint32_t weight_;
    std::uint64_t block_ = 0;
};

namespace detail {

// Bit j set where acc[j] >= threshold, for j in [0, 16).
template <class Score>
inline std::uint32_t reaching(const Score* acc, Score threshold) {
#if SPLADE_SSE2
    if constexpr (sizeof(Score) == 4) {  // unsigned compare as signed after flipping the top bit
        const __m128i bias = _mm_set1_epi32(static_cast<int>(0x80000000u));
        const __m128i t = _mm_xor_si128(_mm_set1_epi32(static_cast<int>(threshold)), bias);
        auto below = [&](std::size_t i) {
            const __m128i v = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(acc + i)), bias);
            return _mm_cmpgt_epi32(t, v);
        };
        const __m128i b0 = below(0), b1 = below(4), b2 = below(8), b3 = below(12);
        const __m128i all = _mm_and_si128(_mm_and_si128(b0, b1), _mm_and_si128(b2, b3));
        if (_mm_movemask_epi8(all) == 0xFFFF) return 0;  // the usual case: one test
        auto bits = [](__m128i b) { return static_cast<std::uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(b))); };
        return ~(bits(b0) | bits(b1) << 4 | bits(b2) << 8 | bits(b3) << 12) & 0xFFFFu;
    }
#endif
    std::uint32_t mask = 0;
    for (std::uint32_t j = 0; j < 16; ++j) mask |= std::uint32_t{acc[j] >= threshold} << j;
    return mask;
}

}  // namespace detail

// Feeds acc[0, n) (documents base, base + 1, ...) to the queue. Sixteen accumulators are
// compared at a time; only those reaching the threshold are offered, one by one to a heap
// (small k), all at once to a buffer (large k: no unpredictable branch per candidate).
// in_order: the documents come in increasing doc order across calls.
template <class Score>
void collect(const Score* acc, std::uint32_t n, doc_t base, topk_queue<Score>& topk, bool in_order) {
    Score threshold = in_order ? topk.threshold_in_order() : topk.threshold();
    if (topk.buffered()) {
        std::uint32_t i = 0;
        for (; i + 16 <= n; i += 16) {
            const std::uint32_t mask = detail::reaching(acc + i, threshold);
            if (mask && topk.append_reaching(acc + i, base + i, mask))
                threshold = in_order ? topk.threshold_in_order() : topk.threshold();
        }
        std::uint32_t mask = 0;
        for (std::uint32_t j = 0; i + j < n; ++j) mask |= std::uint32_t{acc[i + j] >= threshold} << j;
        if (mask) topk.append_reaching(acc + i, base + i, mask);
        return;
    }
    auto offer = [&](std::uint32_t j) {
        if (acc[j] >= threshold && topk.insert(acc[j], base + j))
            threshold = in_order ? topk.threshold_in_order() : topk.threshold();
    };
    std::uint32_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (std::uint32_t mask = detail::reaching(acc + i, threshold); mask; mask &= mask - 1)
            offer(i + static_cast<std::uint32_t>(__builtin_ctz(mask)));
    for (; i < n; ++i) offer(i);
}

}  // namespace splade
