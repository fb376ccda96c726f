// Batch search: queries as CSR (term ids, integer weights), answered over a pool of std::thread
// workers, each with its own accumulators. Results are [n_queries, k] row-major: doc indices
// best first (score descending, then doc index ascending), padded with -1 / 0 when fewer than
// k documents match. Doc indices are input rows, also in a reordered index. Only documents matching at least one query term are returned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "splade/index.hpp"

namespace splade {

enum class algorithm { exhaustive, bmp, maxscore, clustered };

// The exact algorithms, the default first: on unclustered collections the cache-blocked
// exhaustive pass is fastest. `clustered` is approximate and needs the index's clustered
// sections (clusters.hpp).
inline constexpr algorithm all_algorithms[] = {algorithm::exhaustive, algorithm::bmp, algorithm::maxscore};

const char* algorithm_name(algorithm a);
algorithm parse_algorithm(const std::string& name);  // throws std::invalid_argument

struct query_batch {
    const std::int64_t* indptr = nullptr;  // n_queries + 1 offsets
    std::size_t n_queries = 0;
    const std::int64_t* terms = nullptr;    // term ids >= 0; ids >= vocab_size match nothing
    const std::int64_t* weights = nullptr;  // 0 .. 65535; zero weights are ignored
    std::size_t nnz = 0;
};

struct search_options {
    std::size_t k = 10;
    algorithm algo = algorithm::exhaustive;
    unsigned threads = 1;
    double alpha = 1.0;       // < 1: approximate, prunes when bound * alpha < threshold
    double term_ratio = 1.0;  // < 1: approximate, keeps the heaviest ceil(ratio * n) query terms
    double bound_share = 1.0;  // < 1: approximate (bmp), block bounds from the heaviest terms only
    std::uint32_t query_cut = 10;  // clustered: query terms whose clusters are visited
    double heap_factor = 1.0;      // clustered: open clusters while estimate >= heap_factor * k-th score
};

struct search_results {
    std::size_t n_queries = 0;
    std::size_t k = 0;
    std::vector<std::int32_t> docs;
    std::vector<std::int64_t> scores;
};

search_results search(const inverted_index& index, const query_batch& queries, const search_options& options);

}  // namespace splade
