// Top-k min-heap with the brute-force tie rule: a higher score wins, and among equal scores the
// smaller doc index wins. Documents must score at least `floor` (>= 1, so unmatched documents
// never enter); the floor may start above 1 from a safe lower bound of the k-th score.
//
// In a reordered index, `doc_map` maps internal doc indices (what the algorithms visit) to the
// original rows; entries then hold rows, and ties go to the smaller row, whatever the order in
// which documents are visited.
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
        : k_(k), floor_(floor < 1 ? 1 : floor), map_(doc_map) {
        heap_.reserve(k);
    }

    void clear(Score floor = 1) {
        heap_.clear();
        floor_ = floor < 1 ? 1 : floor;
    }

    std::size_t k() const { return k_; }
    std::size_t size() const { return heap_.size(); }
    bool full() const { return heap_.size() == k_; }

    // Smallest score a document may still need in any visiting order: a block or document
    // whose upper bound is below this can be skipped.
    Score threshold() const { return full() && heap_.front().score > floor_ ? heap_.front().score : floor_; }

    // Same, when documents arrive in increasing doc order: a tie with the current k-th then
    // loses, so the bound becomes k-th + 1. Not so with a doc map (rows arrive in any order).
    Score threshold_in_order() const {
        if (map_) return threshold();
        return full() && heap_.front().score >= floor_ ? heap_.front().score + 1 : floor_;
    }

    // Inserts if (score, doc) beats the current k-th; returns whether it did. `doc` is an
    // internal doc index.
    bool insert(Score score, doc_t doc) {
        if (score < floor_) return false;
        if (full()) {
            const entry& worst = heap_.front();
            if (score < worst.score) return false;  // most rejections: no doc-map lookup
            const doc_t key = row(doc);
            if (score == worst.score && key >= worst.doc) return false;
            replace_worst({score, key});
        } else {
            heap_.push_back({score, row(doc)});
            std::push_heap(heap_.begin(), heap_.end(), worse_first);
        }
        return true;
    }

    // Entries best first (docs are original rows); the queue is left empty.
    std::vector<entry> finalize() {
        std::sort(heap_.begin(), heap_.end(), worse_first);
        std::vector<entry> out;
        out.swap(heap_);
        heap_.reserve(k_);
        return out;
    }

private:
    doc_t row(doc_t doc) const { return map_ ? map_[doc] : doc; }

    // Heap order: the root is the worst entry (lowest score, then largest doc).
    static bool worse_first(const entry& a, const entry& b) {
        return a.score > b.score || (a.score == b.score && a.doc < b.doc);
    }

    // Overwrites the root and sifts it down: one pass instead of pop + push.
    void replace_worst(entry e) {
        const std::size_t n = heap_.size();
        std::size_t i = 0;
        for (;;) {
            std::size_t child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && worse_first(heap_[child], heap_[child + 1])) ++child;  // the worse child
            if (!worse_first(e, heap_[child])) break;
            heap_[i] = heap_[child];
            i = child;
        }
        heap_[i] = e;
    }

    std::size_t k_;
    Score floor_;
    const doc_t* map_;
    std::vector<entry> heap_;
};

}  // namespace splade
