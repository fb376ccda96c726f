// Term-major posting lists: per term, postings sorted by doc index and cut into blocks of 128.
// Each block stores its doc gaps and its impacts bit-packed (codec.hpp) at their own widths;
// a block_meta row per block holds the skip data (last doc, byte offset) and the block max.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "splade/codec.hpp"
#include "splade/errors.hpp"

namespace splade {

using doc_t = std::uint32_t;
inline constexpr doc_t end_doc = std::numeric_limits<doc_t>::max();
inline constexpr std::uint32_t no_row = std::numeric_limits<std::uint32_t>::max();
inline constexpr std::size_t n_kth = 3;
inline constexpr std::uint32_t kth_ranks[n_kth] = {10, 100, 1000};

// One row of the term table (on disk as is, little-endian).
struct term_entry {
    std::uint64_t data_offset;   // first byte of the term's blocks in the postings section
    std::uint64_t data_bytes;    // bytes of all its blocks
    std::uint64_t first_block;   // its first row in the block table
    std::uint32_t df;            // postings
    std::uint32_t dense_row;     // its row of doc-range block maxima, or no_row
    std::uint16_t max_impact;    // largest impact of the list
    std::uint16_t kth_impact[n_kth];  // impact at rank kth_ranks[i] (0 if df is smaller)
};
static_assert(sizeof(term_entry) == 40, "term_entry is an on-disk record");

// Skip data of one posting block (on disk as is). The block's byte offset follows from the
// widths of the blocks before it; loading computes it once (block_offsets below).
struct block_meta {
    doc_t last_doc;           // largest doc index in the block
    std::uint16_t max_impact;
    std::uint8_t doc_bits;    // width of the packed gaps
    std::uint8_t impact_bits; // width of the packed impacts
};
static_assert(sizeof(block_meta) == 8, "block_meta is an on-disk record");

inline std::uint64_t blocks_for(std::uint64_t df) { return (df + codec_block - 1) / codec_block; }

// Bytes of one packed block (gaps, then impacts).
inline std::uint64_t block_bytes(std::uint32_t n, const block_meta& m) {
    return packed_bytes(n, m.doc_bits) + packed_bytes(n, m.impact_bits);
}

// Postings in block `block` of a list of `df` postings.
inline std::uint32_t block_length(std::uint64_t df, std::uint64_t block) {
    const std::uint64_t begin = block * codec_block;
    return static_cast<std::uint32_t>(df - begin < codec_block ? df - begin : codec_block);
}

// A view of one term's list; everything in it was bounds-checked when the index was built or
// loaded, so cursors index it without checks.
struct posting_list {
    const block_meta* blocks = nullptr;
    const std::uint32_t* offsets = nullptr;  // per block: first byte, from data
    std::uint64_t n_blocks = 0;
    const std::uint8_t* data = nullptr;
    std::uint32_t df = 0;
    std::uint32_t max_impact = 0;
    unsigned safe_bits = 32;  // gap widths above this go through the checked decoder
    const std::uint8_t* block_max = nullptr;  // doc-range block maxima (index.hpp), if stored
};

// Decodes block `b` of `list` into docs (and impacts when wanted). A corrupted payload (only
// possible when a file was loaded with verify=False) raises format_error instead of producing
// doc indices outside the collection: one comparison per block, not per posting.
inline std::uint32_t decode_docs(const posting_list& list, std::uint64_t b, doc_t* docs) {
    const block_meta& meta = list.blocks[b];
    const std::uint32_t n = block_length(list.df, b);
    const doc_t prev = b == 0 ? end_doc : list.blocks[b - 1].last_doc;
    const std::uint8_t* in = list.data + list.offsets[b];
    if (meta.doc_bits <= list.safe_bits) {
        unpack_delta(in, n, meta.doc_bits, docs, prev);
    } else {  // wide gaps in a huge collection: decode with 64-bit sums so nothing wraps
        unpack(in, n, meta.doc_bits, docs);
        std::uint64_t doc = b == 0 ? std::uint64_t{0} - 1 : prev;
        for (std::uint32_t i = 0; i < n; ++i) {
            doc += std::uint64_t{docs[i]} + 1;
            if (doc > meta.last_doc) throw format_error("corrupt posting block (doc index out of range)");
            docs[i] = static_cast<doc_t>(doc);
        }
    }
    if (docs[n - 1] != meta.last_doc) throw format_error("corrupt posting block (doc gaps do not add up)");
    return n;
}

// Decodes block `b`'s doc gaps without summing them (for a caller that sums them as it goes),
// after checking that they add up to the block's span, so that every running sum stays inside
// it. Only for gap widths up to list.safe_bits, where no sum wraps.
inline std::uint32_t decode_gaps(const posting_list& list, std::uint64_t b, std::uint32_t* gaps) {
    const block_meta& meta = list.blocks[b];
    const std::uint32_t n = block_length(list.df, b);
    unpack(list.data + list.offsets[b], n, meta.doc_bits, gaps);
    std::uint32_t sum = n;  // at most n * 2^safe_bits: no wrap (index_build.cpp)
    for (std::uint32_t i = 0; i < n; ++i) sum += gaps[i];
    const std::uint64_t span = b == 0 ? std::uint64_t{meta.last_doc} + 1 : meta.last_doc - list.blocks[b - 1].last_doc;
    if (sum != span) throw format_error("corrupt posting block (doc gaps do not add up)");
    return n;
}

inline void decode_impacts(const posting_list& list, std::uint64_t b, std::uint32_t* impacts) {
    const block_meta& meta = list.blocks[b];
    const std::uint32_t n = block_length(list.df, b);
    unpack(list.data + list.offsets[b] + packed_bytes(n, meta.doc_bits), n, meta.impact_bits, impacts);
}

// A forward-moving cursor over one posting list, PISA style (document-at-a-time algorithms).
class posting_cursor {
public:
    posting_cursor(const posting_list& list, std::uint32_t weight) : list_(list), weight_(weight) {
        if (list_.n_blocks) load(0);
    }

    doc_t docid() const { return doc_; }
    std::uint32_t weight() const { return weight_; }
    std::uint32_t max_impact() const { return list_.max_impact; }

    std::uint32_t impact() {
        if (!impacts_ready_) {
            decode_impacts(list_, block_, impacts_);
            impacts_ready_ = true;
        }
        return impacts_[pos_];
    }

    void next() {
        if (++pos_ < n_) doc_ = docs_[pos_];
        else advance_to_block(block_ + 1);
    }

    // Moves to the first posting with doc >= target (no-op if already there).
    void next_geq(doc_t target) {
        if (target <= doc_) return;
        if (target > list_.blocks[block_].last_doc) {
            std::uint64_t lo = block_ + 1, step = 1;  // gallop over the skip data
            const std::uint64_t n_blocks = list_.n_blocks;
            while (lo + step < n_blocks && list_.blocks[lo + step - 1].last_doc < target) {
                lo += step;
                step *= 2;
            }
            std::uint64_t hi = std::min(n_blocks, lo + step);
            while (lo < hi) {
                const std::uint64_t mid = lo + (hi - lo) / 2;
                if (list_.blocks[mid].last_doc < target) lo = mid + 1;
                else hi = mid;
            }
            advance_to_block(lo);
            if (doc_ == end_doc) return;
        }
        while (docs_[pos_] < target) ++pos_;
        doc_ = docs_[pos_];
    }

private:
    void advance_to_block(std::uint64_t b) {
        if (b < list_.n_blocks) {
            load(b);
        } else {
            pos_ = n_ = 0;
            doc_ = end_doc;
        }
    }

    void load(std::uint64_t b) {
        block_ = b;
        n_ = decode_docs(list_, b, docs_);
        pos_ = 0;
        impacts_ready_ = false;
        doc_ = docs_[0];
    }

    posting_list list_;
    std::uint32_t weight_ = 0;
    std::uint64_t block_ = 0;
    std::uint32_t n_ = 0;
    std::uint32_t pos_ = 0;
    doc_t doc_ = end_doc;
    bool impacts_ready_ = false;
    doc_t docs_[codec_block];
    std::uint32_t impacts_[codec_block];
};

}  // namespace splade
