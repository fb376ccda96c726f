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
#include <utility>
#include <vector>

#include "splade/postings.hpp"

namespace splade {

template <class Score>
class topk_queue {
public:
    struct entry {
        Score score;
        doc_t doc;
    };

    explicit topk_queue(std::size_t k, Score floor = 1, const doc_t* doc_map = nullptr)
        : k_(k), floor_(floor < 1 ? 1 : floor), map_(doc_map), buffered_(k >= buffered_min_k) {
        entries_.reserve(buffered_ ? 2 * k : k);
    }

    std::size_t k() const { return k_; }

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
            const doc_t key = row(doc);
            if (score == worst_.score && key >= worst_.doc) return false;
            if (buffered_) append({score, key});
            else replace_worst({score, key});
        } else if (buffered_) {
            append({score, row(doc)});
        } else {
            entries_.push_back({score, row(doc)});
            std::push_heap(entries_.begin(), entries_.end(), better);
            if (entries_.size() == k_) set_worst(entries_.front());
        }
        return true;
    }

    // Entries best first (docs are original rows); the queue is left empty.
    std::vector<entry> finalize() {
        if (entries_.size() > k_) select_best_k();
        std::sort(entries_.begin(), entries_.end(), better);
        std::vector<entry> out;
        out.swap(entries_);
        full_ = false;
        entries_.reserve(buffered_ ? 2 * k_ : k_);
        return out;
    }

private:
    static constexpr std::size_t buffered_min_k = 64;

    doc_t row(doc_t doc) const { return map_ ? map_[doc] : doc; }

    // Whether a ranks before b: a higher score, then a smaller row. As a heap order, the root
    // is the worst entry. A function object, so that std::sort and friends inline it.
    struct ranks_before {
        bool operator()(const entry& a, const entry& b) const {
            return a.score > b.score || (a.score == b.score && a.doc < b.doc);
        }
    };
    static constexpr ranks_before better{};

    void set_worst(const entry& e) {
        worst_ = e;
        full_ = true;
    }

    void append(entry e) {
        entries_.push_back(e);
        if (entries_.size() == (full_ ? 2 * k_ : k_)) select_best_k();
    }

    // Keeps the best k of the buffer; the worst of them becomes the bar.
    void select_best_k() {
        const auto kth = entries_.begin() + static_cast<std::ptrdiff_t>(k_ - 1);
        std::nth_element(entries_.begin(), kth, entries_.end(), better);
        entries_.resize(k_);
        set_worst(*kth);
    }

    // Overwrites the root and sifts it down: one pass instead of pop + push.
    void replace_worst(entry e) {
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
        worst_ = entries_.front();
    }

    std::size_t k_;
    Score floor_;
    const doc_t* map_;
    bool buffered_;
    bool full_ = false;     // k entries seen: worst_ is the k-th best so far
    entry worst_{0, 0};
    std::vector<entry> entries_;  // a heap of at most k (small k), or a buffer of at most 2k
};

}  // namespace splade
