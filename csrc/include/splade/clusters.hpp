// Clustered posting lists with summaries over a forward index: the sections behind the
// approximate `clustered` search (query/clustered.hpp), in the manner of Seismic (Bruch et al.,
// SIGIR 2024). Each term keeps its heaviest postings (a collection-wide selection: the
// vocab_size x n_postings heaviest postings of the collection, at most max_share x n_postings a
// term), clustered by similarity; every cluster has a summary (per term, the largest impact of
// its documents, keeping the heaviest terms up to summary_energy of the mass), stored transposed
// (per term, the clusters whose summary holds it, by cluster). Documents are scored exactly from
// the forward index (per document, its (term, impact) records), so results are true dot products.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "splade/index.hpp"

namespace splade {

struct cluster_options {
    std::uint64_t n_postings = 0;     // postings kept per term on average (> 0)
    double max_share = 1.5;           // at most max_share * n_postings postings a term
    double centroid_fraction = 0.1;   // clusters per kept posting (~10 documents a cluster)
    std::uint32_t doc_cut = 15;       // a document joins a cluster by its doc_cut heaviest terms
    double summary_energy = 0.4;      // a summary keeps its heaviest terms up to this share of its sum
    std::uint32_t min_cluster = 3;    // smaller clusters are dissolved into the others
    std::uint64_t seed = 42;
    unsigned threads = 1;
};

// Forward records pack a term id (< 2^24) above an 8-bit impact.
inline constexpr unsigned forward_impact_bits = 8;
inline constexpr std::uint64_t max_clustered_vocab = std::uint64_t{1} << (32 - forward_impact_bits);
inline std::uint32_t forward_record(std::uint32_t term, std::uint32_t impact) {
    return term << forward_impact_bits | impact;
}
inline std::uint32_t record_term(std::uint32_t record) { return record >> forward_impact_bits; }
inline std::uint32_t record_impact(std::uint32_t record) { return record & ((1u << forward_impact_bits) - 1); }

// Per term, the first of its summary samples (ceil(n / summary_sample) for a term of n summary
// entries), from the summary offsets: vocab + 1 offsets.
std::shared_ptr<const std::vector<std::uint64_t>> sample_offsets(const array_view<std::uint64_t>& summary_offsets);

}  // namespace splade
