// Top-k min-heap with the brute-force tie rule: a higher score wins, and among equal scores the
// smaller doc index wins. Documents must score at least `floor` (>= 1, so unmatched documents
// never enter); the floor may start above 1 from a safe lower bound of the k-th score.
//
// In a reordered index, `doc_map` maps internal doc indices (what the algorithms visit) to the
// original rows; entries then hold rows, and ties go to the smaller row, whatever the order in
// which documents are visited.
//
// Small k keeps a heap. From buffered_min_k on, a heap would pay a log k sift, with branches
// that mispredict, for each of the ~k ln(n / k) documents that beat the k-th score so far;
// instead candidates are appended to a buffer, and each time it holds 2k the best k are
// selected (nth_element, linear) and the k-th of them becomes the bar to beat. The bar lags a
// little behind the heap's, so a few more candidates are appended, each for a store.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "splade/postings.hpp"

namespace splade {

namespace detail {

// How the queue stores an entry. 32-bit scores pack with the row into one 64-bit key,
// score above ~row, so that "ranks before" is a plain integer comparison: selection and the
// final sort then compare without branches on ties.
template <class Score>
struct topk_keys {
    struct entry {
        Score score;
        doc_t doc;
    };
    struct ranks_before {
        bool operator()(const entry& a, const entry& b) const {
            return a.score > b.score || (a.score == b.score && a.doc < b.doc);
        }
    };
    using key = entry;
    static key make(Score score, doc_t row) { return {score, row}; }
    static entry unpack(const key& k) { return k; }
    using better = ranks_before;
};

template <>
struct topk_keys<std::uint32_t> {
    struct entry {
        std::uint32_t score;
        doc_t doc;
    };
    using key = std::uint64_t;
    static key make(std::uint32_t score, doc_t row) { return std::uint64_t{score} << 32 | static_cast<doc_t>(~row); }
    static entry unpack(key k) { return {static_cast<std::uint32_t>(k >> 32), static_cast<doc_t>(~static_cast<doc_t>(k))}; }
    using better = std::greater<std::uint64_t>;
};

}  // namespace detail

template <class Score>
class topk_queue {
    using keys = detail::topk_keys<Score>;
    using key = typename keys::key;

public:
    using entry = typename keys::entry;

    explicit topk_queue(std::size_t k, Score floor = 1, const doc_t* doc_map = nullptr)
        : k_(k), floor_(floor < 1 ? 1 : floor), map_(doc_map), buffered_(k >= buffered_min_k) {
        entries_.reserve(buffered_ ? 2 * k + 16 : k);
    }

    std::size_t k() const { return k_; }

    // Whether k documents were inserted (for a buffered queue: since the first selection).
    bool full() const { return full_; }

    // Whether candidates go to a buffer (large k), which append_reaching may fill in bulk.
    bool buffered() const { return buffered_; }

    // Buffered queues only: appends (acc[j], doc base + j) for each bit j (< 16) of mask, all
    // of them reaching threshold() (or, in doc order, threshold_in_order()) as the caller
    // checked, without a test per candidate: a few that insert would refuse (ties lost to the
    // k-th) cost a slot, and the selection drops them. Returns whether the threshold moved.
    bool append_reaching(const Score* acc, doc_t base, std::uint32_t mask) {
        for (; mask; mask &= mask - 1) {
            const auto j = static_cast<std::uint32_t>(__builtin_ctz(mask));
            entries_.push_back(keys::make(acc[j], row(base + j)));
        }
        if (entries_.size() < (full_ ? 2 * k_ : k_)) return false;
        cut();
        return true;
    }

    // Smallest score a document may still need in any visiting order: a block or document
    // whose upper bound is below this can be skipped.
    Score threshold() const { return full_ && worst_.score > floor_ ? worst_.score : floor_; }

    // Same, when documents arrive in increasing doc order: a tie with the current k-th then
    // loses, so the bound becomes k-th + 1. Not so with a doc map (rows arrive in any order).
    Score threshold_in_order() const {
        if (map_) return threshold();
        return full_ && worst_.score >= floor_ ? worst_.score + 1 : floor_;
    }

    // Inserts if (score, doc) beats the current k-th; returns whether it did. `doc` is an
    // internal doc index.
    bool insert(Score score, doc_t doc) {
        if (score < floor_) return false;
        if (full_) {
            if (score < worst_.score) return false;  // most rejections: no doc-map lookup
            const doc_t r = row(doc);
            if (score == worst_.score && r >= worst_.doc) return false;
            if (buffered_) append(keys::make(score, r));
            else replace_worst(keys::make(score, r));
        } else if (buffered_) {
            append(keys::make(score, row(doc)));
        } else {
            entries_.push_back(keys::make(score, row(doc)));
            std::push_heap(entries_.begin(), entries_.end(), better);
            if (entries_.size() == k_) set_worst(entries_.front());
        }
        return true;
    }

    // Entries best first (docs are original rows); the queue is left empty.
    std::vector<entry> finalize() {
        if (entries_.size() > k_) select_best_k();
        std::sort(entries_.begin(), entries_.end(), better);
        std::vector<entry> out(entries_.size());
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = keys::unpack(entries_[i]);
        entries_.clear();
        full_ = false;
        return out;
    }

private:
    static constexpr std::size_t buffered_min_k = 64;

    doc_t row(doc_t doc) const { return map_ ? map_[doc] : doc; }

    // Whether a ranks before b: a higher score, then a smaller row. As a heap order, the root
    // is the worst entry. A function object, so that std::sort and friends inline it.
    static constexpr typename keys::better better{};

    void set_worst(const key& e) {
        worst_ = keys::unpack(e);
        full_ = true;
    }

    void append(key e) {
        entries_.push_back(e);
        if (entries_.size() == (full_ ? 2 * k_ : k_)) cut();
    }

    // Shrinks a full buffer (or fills the queue: the first k candidates). Exact selection
    // would cost several branchy passes; instead a bar is taken from a sample, at the rank
    // where about 5k/4 of the buffer reach it, and if at least k do (nearly always), those
    // are kept and the bar becomes the entry to beat: an entry that ranks after it has k
    // better ones. Two branch-free passes (count, then compact); else select_best_k.
    void cut() {
        const std::size_t n = entries_.size();
        if (!full_ || n < 2 * k_) return select_best_k();
        constexpr std::size_t m = 128;
        key sample[m];
        for (std::size_t i = 0; i < m; ++i) sample[i] = entries_[i * n / m];
        const std::size_t rank = std::min(m - 1, 5 * k_ * m / (4 * n));
        std::nth_element(sample, sample + rank, sample + m, better);
        const key bar = sample[rank];
        std::size_t reach = 0;
        for (std::size_t i = 0; i < n; ++i) reach += !better(bar, entries_[i]);
        if (reach < k_) return select_best_k();
        std::size_t j = 0;
        for (std::size_t i = 0; i < n; ++i) {
            entries_[j] = entries_[i];
            j += !better(bar, entries_[i]);
        }
        entries_.resize(j);
        set_worst(bar);
    }

    // Keeps the best k of the buffer; the worst of them becomes the bar.
    void select_best_k() {
        const auto kth = entries_.begin() + static_cast<std::ptrdiff_t>(k_ - 1);
        std::nth_element(entries_.begin(), kth, entries_.end(), better);
        entries_.resize(k_);
        set_worst(*kth);
    }

    // Overwrites the root and sifts it down: one pass instead of pop + push.
    void replace_worst(key e) {
        const std::size_t n = entries_.size();
        std::size_t i = 0;
        for (;;) {
            std::size_t child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && better(entries_[child], entries_[child + 1])) ++child;  // the worse child
            if (!better(e, entries_[child])) break;
            entries_[i] = entries_[child];
            i = child;
        }
        entries_[i] = e;
        set_worst(entries_.front());
    }

    std::size_t k_;
    Score floor_;
    const doc_t* map_;
    bool buffered_;
    bool full_ = false;     // k entries seen: worst_ is the k-th best so far
    entry worst_{0, 0};
    std::vector<key> entries_;  // a heap of at most k (small k), or a buffer of at most 2k
};

}  // namespace splade
