// Document reordering by recursive graph bisection (Dhulipala, Kabiljo, Karrer, Ottaviano,
// Pupyrev & Shalita, "Compressing Graphs and Indexes with Recursive Graph Bisection", KDD 2016;
// Mackenzie, Mallia, Petri, Culpepper & Suel, "Compressing Inverted Indexes with Recursive Graph
// Bisection: A Reproducibility Study", ECIR 2019). Documents that share terms get nearby doc
// indices, so posting gaps shrink and the doc-range blocks of block-max pruning (Mallia, Suel &
// Tonellotto, SIGIR 2024) get tight upper bounds.
//
// Each partition of documents is split in two halves, and for a number of iterations documents
// are swapped between the halves to lower the log-gap cost: for every term t with d1 documents
// in a half of n1 and d2 in the other of n2, d1 * log2(n1 / (d1 + 1)) + d2 * log2(n2 / (d2 + 1)).
// A document's move gain is the sum over its terms of the cost drop if it alone moved; each half
// is sorted by gain and pairs are swapped while their summed gain is positive. Then both halves
// are bisected in turn, down to partitions of `min_partition` documents. Splits fall on
// multiples of `block_size`, so the leaves are exactly the index's doc-range blocks.
//
// Deterministic: the same input and options give the same order, whatever the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "splade/index.hpp"

namespace splade {

struct bp_options {
    std::uint32_t block_size = 64;     // splits fall on multiples of this (the index's block size)
    std::uint32_t min_partition = 0;   // partitions this small are not split (0: block_size)
    unsigned max_depth = 0;            // levels of bisection at most (0: until min_partition)
    unsigned iterations = 20;          // swap rounds per partition
    std::uint64_t min_df = 2;          // terms in fewer documents are ignored
    double max_df_ratio = 1.0;         // terms in more than this share of the documents are ignored
    std::uint64_t seed = 0;            // 0: start from the input order; else from a seeded shuffle
    unsigned threads = 1;
};

// The documents' terms, collected a chunk of rows at a time, so that a caller reading a
// corpus from disk never holds it whole: bisection works on a forward index of the terms
// alone (2 bytes a posting while the vocabulary fits 16 bits, as BERT's does), and that is all
// the collector keeps.
class bp_collector {
public:
    explicit bp_collector(std::uint32_t vocab_size);
    // Room for this many documents and postings in all (optional: it avoids regrowing).
    void reserve(std::size_t n_docs, std::size_t nnz);
    // The next rows, in order. Reads indptr, indices, impacts (zero impacts count as absent)
    // and n_docs of `rows`; throws std::invalid_argument on a malformed CSR, a term id at or
    // above vocab_size or a term repeated within a row.
    void add(const build_input& rows);
    std::size_t n_docs() const { return off_.size() - 1; }
    // The new order of the rows added: element i is the row placed at position i. Releases
    // the collected terms, whose memory the bisection reuses.
    std::vector<doc_t> order(const bp_options& options);

private:
    std::uint32_t vocab_;
    bool narrow_;                      // term ids fit 16 bits
    std::vector<std::uint64_t> off_;   // row -> first of its terms (n + 1 entries)
    std::vector<std::uint16_t> terms16_;
    std::vector<std::uint32_t> terms32_;
    std::vector<std::uint64_t> df_;    // rows holding each term
    std::vector<std::uint32_t> last_;  // last row + 1 that held each term (repeat check)
};

// The new order of the rows of `in` (element i: the input row placed at position i), as a
// bp_collector given all of them at once computes it.
std::vector<doc_t> bp_order(const build_input& in, const bp_options& options);

}  // namespace splade
