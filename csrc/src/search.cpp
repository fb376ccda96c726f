// Query preparation, per-query choice of the accumulator width, algorithm dispatch, and the
// worker pool of batch search.
#include "splade/search.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "splade/parallel.hpp"
#include "splade/query/bmp.hpp"
#include "splade/query/clustered.hpp"
#include "splade/query/exhaustive.hpp"
#include "splade/query/maxscore.hpp"

namespace splade {

const char* algorithm_name(algorithm a) {
    switch (a) {
        case algorithm::bmp: return "bmp";
        case algorithm::maxscore: return "maxscore";
        case algorithm::exhaustive: return "exhaustive";
        case algorithm::clustered: return "clustered";
    }
    return "?";
}

algorithm parse_algorithm(const std::string& name) {
    for (algorithm a : all_algorithms)
        if (name == algorithm_name(a)) return a;
    if (name == algorithm_name(algorithm::clustered)) return algorithm::clustered;
    throw std::invalid_argument("unknown algorithm '" + name + "' (choose exhaustive, bmp, maxscore or clustered)");
}

namespace {

using term_weight = std::pair<std::uint32_t, std::uint32_t>;

template <class Score>
struct typed_scratch {
    std::vector<Score> acc;
    std::vector<block_walker> walkers;
    block_buffer buffer;
    bmp_scratch<Score> bmp;
    clustered_scratch<Score> clustered;
};

struct worker_scratch {
    typed_scratch<std::uint32_t> narrow;
    typed_scratch<std::uint64_t> wide;
    std::vector<std::pair<std::int64_t, std::uint32_t>> raw;
    std::vector<term_weight> terms;
    std::vector<query_term> query;
    std::vector<posting_cursor> cursors;
};

// Scratch buffers outlive a search call, so that repeated single-query calls do not pay for
// fresh allocations (and their page faults) every time. A bounded free list, shared by all
// indexes; each buffer only grows to the largest collection searched.
class scratch_pool {
public:
    std::unique_ptr<worker_scratch> acquire() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!free_.empty()) {
                auto s = std::move(free_.back());
                free_.pop_back();
                return s;
            }
        }
        return std::make_unique<worker_scratch>();
    }

    void release(std::unique_ptr<worker_scratch> s) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (free_.size() < max_free) free_.push_back(std::move(s));
    }

private:
    static constexpr std::size_t max_free = 64;
    std::mutex mutex_;
    std::vector<std::unique_ptr<worker_scratch>> free_;
};

scratch_pool& pool() {
    static scratch_pool instance;
    return instance;
}

void check_batch(const inverted_index& index, const query_batch& q, const search_options& options) {
    if (options.algo == algorithm::clustered && index.clusters().empty())
        throw std::invalid_argument("this index has no clusters for clustered search (build them first)");
    if (options.k == 0 || options.k > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
        throw std::invalid_argument("k must be in [1, 2^31 - 1]");
    if (!(options.alpha > 0.0 && options.alpha <= 1.0)) throw std::invalid_argument("alpha must be in (0, 1]");
    if (!(options.term_ratio > 0.0 && options.term_ratio <= 1.0))
        throw std::invalid_argument("term_ratio must be in (0, 1]");
    if (!(options.bound_share > 0.0 && options.bound_share <= 1.0))
        throw std::invalid_argument("bound_share must be in (0, 1]");
    if (options.query_cut == 0) throw std::invalid_argument("query_cut must be positive");
    if (!(options.heap_factor > 0.0 && options.heap_factor <= 1.0))
        throw std::invalid_argument("heap_factor must be in (0, 1]");
    if (q.indptr[0] != 0) throw std::invalid_argument("query indptr must start at 0");
    for (std::size_t i = 0; i < q.n_queries; ++i)
        if (q.indptr[i + 1] < q.indptr[i]) throw std::invalid_argument("query indptr must be non-decreasing");
    if (static_cast<std::uint64_t>(q.indptr[q.n_queries]) != q.nnz)
        throw std::invalid_argument("query indptr[-1] differs from the number of entries");
    for (std::size_t j = 0; j < q.nnz; ++j) {
        if (q.terms[j] < 0) throw std::invalid_argument("negative query term id " + std::to_string(q.terms[j]));
        if (q.weights[j] < 0 || q.weights[j] > 0xFFFF)
            throw std::invalid_argument("query weights must be integers in [0, 65535], not " +
                                        std::to_string(q.weights[j]));
    }
}

// The query's (term, weight) pairs that can match: sorted by term, positive weight, known term
// with postings; a repeated term id is an error. term_ratio keeps the heaviest terms.
void prepare(const inverted_index& index, const query_batch& q, std::size_t row, double term_ratio,
             std::vector<std::pair<std::int64_t, std::uint32_t>>& raw, std::vector<term_weight>& terms) {
    raw.clear();
    for (auto j = static_cast<std::size_t>(q.indptr[row]); j < static_cast<std::size_t>(q.indptr[row + 1]); ++j)
        raw.emplace_back(q.terms[j], static_cast<std::uint32_t>(q.weights[j]));
    std::sort(raw.begin(), raw.end());
    terms.clear();
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (i > 0 && raw[i].first == raw[i - 1].first)
            throw std::invalid_argument("query row " + std::to_string(row) + " holds term id " +
                                        std::to_string(raw[i].first) + " twice");
        const std::int64_t t = raw[i].first;
        if (raw[i].second > 0 && t < index.vocab_size() && index.term(static_cast<std::uint32_t>(t)).df > 0)
            terms.emplace_back(static_cast<std::uint32_t>(t), raw[i].second);
    }
    if (term_ratio < 1.0 && !terms.empty()) {
        const auto keep = static_cast<std::size_t>(std::ceil(term_ratio * static_cast<double>(terms.size())));
        const auto heavier = [](const term_weight& a, const term_weight& b) { return a.second > b.second; };
        std::stable_sort(terms.begin(), terms.end(), heavier);
        terms.resize(std::max<std::size_t>(1, keep));
        std::sort(terms.begin(), terms.end());
    }
}

// Largest score any block bound or document can reach (block-max rows round up by < 255).
std::uint64_t score_bound(const inverted_index& index, const std::vector<term_weight>& terms) {
    std::uint64_t bound = 0;
    for (const term_weight& tw : terms) bound += std::uint64_t{tw.second} * index.term(tw.first).max_impact + 255;
    return bound;
}

// A safe lower bound of the k-th score: at least k documents hold term t with an impact of at
// least its stored impact at rank >= k, so they score at least weight * that impact.
std::uint64_t initial_floor(const inverted_index& index, const std::vector<term_weight>& terms, std::size_t k) {
    std::size_t rank = 0;
    while (rank < n_kth && kth_ranks[rank] < k) ++rank;
    if (rank == n_kth) return 1;
    std::uint64_t floor = 1;
    for (const term_weight& tw : terms)
        floor = std::max(floor, std::uint64_t{tw.second} * index.term(tw.first).kth_impact[rank]);
    return floor;
}

template <class Score>
void run_query(const inverted_index& index, const search_options& options, worker_scratch& s,
               typed_scratch<Score>& ts, std::int32_t* out_docs, std::int64_t* out_scores) {
    s.query.clear();
    for (const term_weight& tw : s.terms) s.query.push_back({index.postings(tw.first), tw.second});
    topk_queue<Score> topk(std::min<std::size_t>(options.k, index.n_docs() ? index.n_docs() : 1),
                           options.algo == algorithm::clustered  // approximate: fill k if it can
                               ? Score{1}
                               : static_cast<Score>(initial_floor(index, s.terms, options.k)),
                           index.doc_map());
    const prune_rule rule{options.alpha, options.bound_share};
    switch (options.algo) {
        case algorithm::exhaustive:
            exhaustive_query<Score>{ts.acc, ts.walkers, ts.buffer}(s.query, index.n_docs(), topk);
            break;
        case algorithm::maxscore: maxscore_query<Score>{s.cursors, rule}(s.query, topk); break;
        case algorithm::bmp: bmp_query<Score>{index, ts.bmp, rule}(s.query, topk); break;
        case algorithm::clustered:
            clustered_query<Score>{index, ts.clustered, {options.query_cut, options.heap_factor}}(s.terms, topk);
            break;
    }
    const auto results = topk.finalize();
    for (std::size_t i = 0; i < results.size(); ++i) {
        out_docs[i] = static_cast<std::int32_t>(results[i].doc);
        out_scores[i] = static_cast<std::int64_t>(results[i].score);
    }
}

}  // namespace

// More workers than this only add scheduling overhead (and risk running out of threads).
constexpr unsigned max_threads = 256;

search_results search(const inverted_index& index, const query_batch& queries, const search_options& options) {
    check_batch(index, queries, options);
    search_results out;
    out.n_queries = queries.n_queries;
    out.k = options.k;
    out.docs.assign(queries.n_queries * options.k, -1);
    out.scores.assign(queries.n_queries * options.k, 0);
    const unsigned threads = std::clamp(options.threads, 1u, max_threads);
    std::vector<std::unique_ptr<worker_scratch>> scratch(
        std::min<std::size_t>(threads, std::max<std::size_t>(1, queries.n_queries)));
    for (auto& s : scratch) s = pool().acquire();
    struct give_back {
        std::vector<std::unique_ptr<worker_scratch>>& scratch;
        ~give_back() {
            for (auto& s : scratch) pool().release(std::move(s));
        }
    } returned{scratch};
    parallel_for(queries.n_queries, static_cast<unsigned>(scratch.size()), 1,
                 [&](unsigned worker, std::size_t begin, std::size_t end) {
                     worker_scratch& s = *scratch[worker];
                     for (std::size_t q = begin; q < end; ++q) {
                         prepare(index, queries, q, options.term_ratio, s.raw, s.terms);
                         std::int32_t* docs = out.docs.data() + q * options.k;
                         std::int64_t* scores = out.scores.data() + q * options.k;
                         if (s.terms.empty()) continue;
                         if (score_bound(index, s.terms) <= std::numeric_limits<std::uint32_t>::max())
                             run_query<std::uint32_t>(index, options, s, s.narrow, docs, scores);
                         else
                             run_query<std::uint64_t>(index, options, s, s.wide, docs, scores);
                     }
                 });
    return out;
}

}  // namespace splade
