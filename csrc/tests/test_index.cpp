// C++ test driver of the engine (no Python): codec round trips, XXH64 vectors, exact top-k of
// every algorithm against brute force (random, tied and extreme inputs, 1-3 threads, in input,
// graph-bisection and reversed doc order), save/load round trips, and truncated / bit-flipped
// files. Built with ASan + UBSan by the Makefile here.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "splade/checksum.hpp"
#include "splade/clusters.hpp"
#include "splade/codec.hpp"
#include "splade/index.hpp"
#include "splade/reorder.hpp"
#include "splade/search.hpp"

using namespace splade;

namespace {

int failures = 0;
std::size_t compared = 0;  // result entries compared against brute force

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                             \
        }                                                                           \
    } while (0)

struct rng {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
};

struct collection {
    std::vector<std::int64_t> indptr{0};
    std::vector<std::uint32_t> indices;
    std::vector<std::uint16_t> impacts;
    std::uint32_t vocab = 0;
    std::size_t n_docs() const { return indptr.size() - 1; }
};

// Random CSR rows with distinct, skewed term ids; impacts in [1, max_impact] or all equal.
collection random_collection(rng& r, std::size_t n, std::uint32_t vocab, std::uint32_t per_row,
                             std::uint32_t max_impact, bool ties) {
    collection c;
    c.vocab = vocab;
    for (std::size_t d = 0; d < n; ++d) {
        std::vector<std::uint32_t> terms;
        const std::uint32_t len = r.below(per_row + 1);
        for (std::uint32_t j = 0; j < len; ++j) {
            const std::uint32_t t = std::min(r.below(vocab), r.below(vocab));  // skew to small ids
            if (std::find(terms.begin(), terms.end(), t) == terms.end()) terms.push_back(t);
        }
        for (std::uint32_t t : terms) {
            c.indices.push_back(t);
            c.impacts.push_back(static_cast<std::uint16_t>(ties ? max_impact : 1 + r.below(max_impact)));
        }
        c.indptr.push_back(static_cast<std::int64_t>(c.indices.size()));
    }
    return c;
}

enum class order { input, bp, reversed };

build_input documents(const collection& c, const std::vector<std::uint8_t>& narrow, unsigned impact_bytes) {
    build_input in;
    in.indptr = c.indptr.data();
    in.n_docs = c.n_docs();
    in.indices = c.indices.data();
    in.impacts = impact_bytes == 1 ? static_cast<const void*>(narrow.data()) : c.impacts.data();
    in.impact_bytes = impact_bytes;
    in.nnz = c.indices.size();
    in.vocab_size = c.vocab;
    return in;
}

inverted_index build(const collection& c, unsigned impact_bytes, std::uint32_t block_size,
                     std::uint64_t dense_min_df = 0, order doc_order = order::input) {
    std::vector<std::uint8_t> narrow(c.impacts.begin(), c.impacts.end());
    std::vector<std::uint64_t> id_offsets{0};
    std::string ids;
    for (std::size_t d = 0; d < c.n_docs(); ++d) {
        ids += "doc" + std::to_string(d);
        id_offsets.push_back(ids.size());
    }
    build_input in = documents(c, narrow, impact_bytes);
    in.doc_id_offsets = id_offsets.data();
    in.doc_id_bytes = reinterpret_cast<const std::uint8_t*>(ids.data());
    build_options options;
    options.block_size = block_size;
    options.dense_min_df = dense_min_df;
    options.threads = 2;
    options.scale = 100.0;
    std::vector<doc_t> permutation;
    if (doc_order == order::bp) {
        bp_options bp;
        bp.block_size = block_size;
        bp.iterations = 6;
        bp.threads = 2;
        permutation = bp_order(in, bp);
        options.order_kind = doc_order_kind::bp;
    } else if (doc_order == order::reversed) {
        for (std::size_t d = c.n_docs(); d-- > 0;) permutation.push_back(static_cast<doc_t>(d));
    }
    if (doc_order != order::input) options.doc_order = permutation.data();
    return inverted_index::build(in, options);
}

struct queries {
    std::vector<std::int64_t> indptr{0};
    std::vector<std::int64_t> terms, weights;
    query_batch batch() const {
        return {indptr.data(), indptr.size() - 1, terms.data(), weights.data(), terms.size()};
    }
};

queries random_queries(rng& r, std::size_t n, std::uint32_t vocab, std::uint32_t per_row, std::uint32_t max_weight) {
    queries q;
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<std::uint32_t> terms;
        const std::uint32_t len = r.below(per_row + 1);
        for (std::uint32_t j = 0; j < len; ++j) {
            const std::uint32_t t = r.below(vocab + 3);  // a few unknown ids
            if (std::find(terms.begin(), terms.end(), t) == terms.end()) terms.push_back(t);
        }
        for (std::uint32_t t : terms) {
            q.terms.push_back(t);
            q.weights.push_back(r.below(max_weight + 1));  // zero weights included
        }
        q.indptr.push_back(static_cast<std::int64_t>(q.terms.size()));
    }
    return q;
}

// Brute force: dense scores, then sort by (score desc, doc asc); matched documents only.
search_results brute_force(const collection& c, const queries& q, std::size_t k) {
    search_results out;
    out.n_queries = q.indptr.size() - 1;
    out.k = k;
    out.docs.assign(out.n_queries * k, -1);
    out.scores.assign(out.n_queries * k, 0);
    for (std::size_t i = 0; i < out.n_queries; ++i) {
        std::vector<std::uint64_t> weight(c.vocab, 0);
        for (auto j = q.indptr[i]; j < q.indptr[i + 1]; ++j)
            if (q.terms[j] < c.vocab) weight[q.terms[j]] = q.weights[j];
        std::vector<std::pair<std::uint64_t, std::int32_t>> scored;
        for (std::size_t d = 0; d < c.n_docs(); ++d) {
            std::uint64_t s = 0;
            for (auto j = c.indptr[d]; j < c.indptr[d + 1]; ++j) s += weight[c.indices[j]] * c.impacts[j];
            if (s > 0) scored.emplace_back(s, static_cast<std::int32_t>(d));
        }
        std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
            return a.first > b.first || (a.first == b.first && a.second < b.second);
        });
        for (std::size_t r = 0; r < std::min(k, scored.size()); ++r) {
            out.docs[i * k + r] = scored[r].second;
            out.scores[i * k + r] = static_cast<std::int64_t>(scored[r].first);
        }
    }
    return out;
}

bool same(const search_results& a, const search_results& b) { return a.docs == b.docs && a.scores == b.scores; }

void check_exact(const inverted_index& index, const collection& c, const queries& q, const char* label) {
    for (std::size_t k : {1, 3, 10, 100, 1000}) {
        const search_results expected = brute_force(c, q, k);
        for (std::int32_t d : expected.docs) compared += d >= 0;
        for (algorithm a : all_algorithms) {
            for (unsigned threads : {1u, 2u, 3u}) {
                search_options options;
                options.k = k;
                options.algo = a;
                options.threads = threads;
                const bool ok = same(search(index, q.batch(), options), expected);
                if (!ok)
                    std::fprintf(stderr, "mismatch: %s algo=%s k=%zu threads=%u\n", label, algorithm_name(a), k,
                                 threads);
                CHECK(ok);
            }
        }
    }
}

void test_codec() {
    rng r{42};
    for (unsigned b = 0; b <= 32; ++b) {
        for (std::size_t n : {std::size_t{1}, std::size_t{5}, std::size_t{127}, std::size_t{128}}) {
            std::vector<std::uint32_t> in(n), out(n);
            const std::uint64_t mask = b == 32 ? 0xFFFFFFFFull : (1ull << b) - 1;
            for (auto& v : in) v = static_cast<std::uint32_t>(r.next() & mask);
            if (n > 0 && b > 0) in[0] = static_cast<std::uint32_t>(mask);
            std::vector<std::uint8_t> packed(packed_bytes(n, b) + 1, 0);
            pack(in.data(), n, b, packed.data());
            unpack(packed.data(), n, b, out.data());
            CHECK(in == out);
            std::vector<std::uint32_t> scalar(n);
            unpack_scalar(packed.data(), n, b, scalar.data(), false, 0);
            CHECK(in == scalar);
            unpack_delta(packed.data(), n, b, out.data(), 7);
            std::uint32_t prev = 7;
            bool ok = true;
            for (std::size_t i = 0; i < n; ++i) ok &= out[i] == (prev += in[i] + 1);
            CHECK(ok);
        }
    }
}

void test_checksum() {
    CHECK(xxhash64("", 0) == 0xEF46DB3751D8E999ull);
    CHECK(xxhash64("abc", 3) == 0x44BC2CF5AD770999ull);
    const std::string longer(100, 'x');
    CHECK(xxhash64(longer.data(), 99) != xxhash64(longer.data(), 100));
}

void test_search(order o) {
    rng r{7};
    {
        const collection c = random_collection(r, 3000, 200, 30, 255, false);
        const queries q = random_queries(r, 40, 200, 20, 255);
        check_exact(build(c, 1, 64, 0, o), c, q, "random u8 bs=64");
        check_exact(build(c, 1, 8, 0, o), c, q, "random u8 bs=8");
        check_exact(build(c, 1, 16, 1, o), c, q, "every term with a block-max row");
        check_exact(build(c, 2, 16, 1u << 30, o), c, q, "no block-max rows, uint16");
        const inverted_index index = build(c, 1, 32, 0, o);
        for (const auto& [a, bound_share] : {std::pair{algorithm::bmp, 1.0}, std::pair{algorithm::maxscore, 1.0},
                                             std::pair{algorithm::bmp, 0.4}}) {  // approximate: true scores
            search_options options;
            options.algo = a;
            options.alpha = 0.6;
            options.bound_share = bound_share;
            const search_results approx = search(index, q.batch(), options);
            const search_results all = brute_force(c, q, c.n_docs());
            bool ok = true;
            for (std::size_t i = 0; i < approx.n_queries; ++i)
                for (std::size_t r = 0; r < approx.k; ++r) {
                    const std::int32_t d = approx.docs[i * approx.k + r];
                    if (d < 0) continue;
                    for (std::size_t j = 0; j < all.k; ++j)
                        if (all.docs[i * all.k + j] == d)
                            ok &= all.scores[i * all.k + j] == approx.scores[i * approx.k + r];
                }
            CHECK(ok);
        }
    }
    {
        const collection c = random_collection(r, 1500, 50, 20, 3, true);  // every impact equal
        const queries q = random_queries(r, 30, 50, 8, 1);
        check_exact(build(c, 1, 16, 0, o), c, q, "ties");
    }
    {
        const collection c = random_collection(r, 800, 400, 300, 65535, true);  // max impacts, many terms
        queries q = random_queries(r, 10, 400, 300, 65535);
        for (auto& w : q.weights) w = 65535;
        check_exact(build(c, 2, 32, 0, o), c, q, "u16 extremes");
    }
    {
        collection c;  // one document, one term in every query
        c.vocab = 5;
        c.indices = {0, 3};
        c.impacts = {255, 1};
        c.indptr = {0, 2};
        queries q;
        q.indptr = {0, 0, 1, 3};  // empty query, absent term, mixed
        q.terms = {1, 3, 9};
        q.weights = {5, 2, 4};
        check_exact(build(c, 1, 64, 0, o), c, q, "one document");
    }
    {
        collection c;  // a term in every document
        c.vocab = 3;
        for (std::int64_t d = 0; d < 5000; ++d) {
            c.indices.push_back(1);
            c.impacts.push_back(static_cast<std::uint16_t>(1 + d % 7));
            c.indptr.push_back(d + 1);
        }
        queries q;
        q.indptr = {0, 1};
        q.terms = {1};
        q.weights = {3};
        check_exact(build(c, 1, 64, 0, o), c, q, "long list");
    }
}

// The order is a permutation, the same for any thread count, and groups documents of
// disjoint term sets into the same blocks.
void test_reorder() {
    rng r{5};
    collection c;
    c.vocab = 256;
    std::vector<std::uint32_t> topic;
    for (std::size_t d = 0; d < 512; ++d) {
        topic.push_back(static_cast<std::uint32_t>(d % 8));  // 64 documents per topic, interleaved
        for (std::uint32_t t = 0; t < 32; ++t)
            if (r.below(2)) {
                c.indices.push_back(topic.back() * 32 + t);
                c.impacts.push_back(static_cast<std::uint16_t>(1 + r.below(255)));
            }
        c.indptr.push_back(static_cast<std::int64_t>(c.indices.size()));
    }
    const std::vector<std::uint8_t> narrow(c.impacts.begin(), c.impacts.end());
    const build_input in = documents(c, narrow, 1);
    bp_options options;
    options.block_size = 16;
    const std::vector<doc_t> one = bp_order(in, options);
    options.threads = 3;
    CHECK(bp_order(in, options) == one);
    {  // the same rows given to a collector in chunks (one empty) give the same order
        bp_collector collector(c.vocab);
        const std::size_t bounds[] = {0, 1, 100, 100, 333, c.n_docs()};
        for (std::size_t b = 0; b + 1 < std::size(bounds); ++b) {
            std::vector<std::int64_t> indptr;
            for (std::size_t d = bounds[b]; d <= bounds[b + 1]; ++d) indptr.push_back(in.indptr[d] - in.indptr[bounds[b]]);
            build_input rows = in;
            rows.indptr = indptr.data();
            rows.n_docs = bounds[b + 1] - bounds[b];
            rows.indices = in.indices + in.indptr[bounds[b]];
            rows.impacts = narrow.data() + in.indptr[bounds[b]];
            rows.nnz = static_cast<std::size_t>(indptr.back());
            collector.add(rows);
        }
        CHECK(collector.n_docs() == c.n_docs());
        CHECK(collector.order(options) == one);
        CHECK(collector.n_docs() == 0);
    }
    std::vector<doc_t> sorted = one;
    std::sort(sorted.begin(), sorted.end());
    bool permutation = sorted.size() == c.n_docs();
    for (std::size_t i = 0; i < sorted.size(); ++i) permutation &= sorted[i] == i;
    CHECK(permutation);
    std::size_t pure = 0;
    for (std::size_t b = 0; b < one.size() / 16; ++b) {
        bool same = true;
        for (std::size_t i = 1; i < 16; ++i) same &= topic[one[b * 16 + i]] == topic[one[b * 16]];
        pure += same;
    }
    CHECK(pure * 10 >= 9 * (one.size() / 16));
    options.max_df_ratio = 0.0;
    bool threw = false;
    try {
        bp_order(in, options);
    } catch (const std::invalid_argument&) {
        threw = true;
    }
    CHECK(threw);
}

void test_bad_input() {
    collection c;
    c.vocab = 4;
    c.indices = {1, 1};
    c.impacts = {3, 4};
    c.indptr = {0, 2};
    bool threw = false;
    try {
        build(c, 1, 64);
    } catch (const std::invalid_argument&) {
        threw = true;
    }
    CHECK(threw);  // duplicate term in a row
    c.indices = {1, 4};
    threw = false;
    try {
        build(c, 1, 64);
    } catch (const std::invalid_argument&) {
        threw = true;
    }
    CHECK(threw);  // term id >= vocab
}

std::vector<char> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::vector<char>& bytes, std::size_t n) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(n));
}

// Loads a damaged file; any outcome but a crash is acceptable with verify=false, while with
// verify=true a changed byte must be reported as format_error.
int load_outcome(const std::string& path, bool verify, const queries& q) {
    try {
        const inverted_index index = inverted_index::load(path, verify);
        for (algorithm a : all_algorithms) {
            search_options options;
            options.algo = a;
            options.k = 10;
            search(index, q.batch(), options);
        }
        if (!index.clusters().empty()) {
            search_options options;
            options.algo = algorithm::clustered;
            options.query_cut = 1000;
            options.heap_factor = 1e-6;
            search(index, q.batch(), options);
        }
        return 0;
    } catch (const format_error&) {
        return 1;
    }
}

// Clustered search with nothing pruned (every posting kept, whole summaries, every query term
// and every cluster visited) returns the brute-force top-k, ties by row included.
void check_clustered_exact(const inverted_index& index, const collection& c, const queries& q, const char* label) {
    for (std::size_t k : {1, 10, 1000}) {
        search_options options;
        options.k = k;
        options.algo = algorithm::clustered;
        options.query_cut = 1000;
        options.heap_factor = 1e-9;
        for (unsigned threads : {1u, 2u}) {
            options.threads = threads;
            const bool ok = same(search(index, q.batch(), options), brute_force(c, q, k));
            if (!ok) std::fprintf(stderr, "mismatch: %s clustered k=%zu threads=%u\n", label, k, threads);
            CHECK(ok);
        }
    }
}

cluster_options keep_everything() {
    cluster_options o;
    o.n_postings = 1;
    o.max_share = 1e12;
    o.summary_energy = 1.0;
    o.threads = 2;
    return o;
}

void test_clusters() {
    rng r{7};
    const queries q = random_queries(r, 30, 200, 20, 255);
    for (order o : {order::input, order::bp}) {
        const collection c = random_collection(r, 3000, 200, 30, 255, o == order::input);  // ties, or not
        cluster_options everything = keep_everything();
        everything.n_postings = c.indices.size() / 200 + 1;  // the whole collection is the selection
        const inverted_index index = build(c, 1, 32, 0, o).with_clusters(everything);
        CHECK(!index.clusters().empty() && index.clusters().forward.size == index.n_postings());
        check_clustered_exact(index, c, q, o == order::bp ? "clusters bp" : "clusters input");
        check_exact(index, c, q, "exact beside clusters");
        search_options pruned;  // any setting: true scores, best first, each document once
        pruned.algo = algorithm::clustered;
        pruned.k = 10;
        pruned.query_cut = 2;
        const search_results got = search(index, q.batch(), pruned);
        const search_results all = brute_force(c, q, c.n_docs());
        for (std::size_t i = 0; i < got.n_queries; ++i)
            for (std::size_t j = 0; j < got.k && got.docs[i * got.k + j] >= 0; ++j) {
                const std::int32_t d = got.docs[i * got.k + j];
                std::int64_t truth = -1;
                for (std::size_t m = 0; m < all.k; ++m)
                    if (all.docs[i * all.k + m] == d) truth = all.scores[i * all.k + m];
                CHECK(truth == got.scores[i * got.k + j]);
            }
    }
    bool refused = false;
    try {
        search_options options;
        options.algo = algorithm::clustered;
        search(build(random_collection(r, 100, 200, 30, 255, false), 1, 32, 0, order::input), q.batch(), options);
    } catch (const std::invalid_argument&) {
        refused = true;
    }
    CHECK(refused);
}

void test_persistence() {
    rng r{99};
    const collection c = random_collection(r, 2000, 150, 25, 255, false);
    const queries q = random_queries(r, 20, 150, 15, 255);
    cluster_options clustered = keep_everything();
    clustered.n_postings = 40;
    const inverted_index built = build(c, 1, 32, 0, order::bp).with_clusters(clustered);
    CHECK(built.doc_map() != nullptr && built.order_kind() == doc_order_kind::bp);
    char dir_template[] = "/tmp/splade-index-test.XXXXXX";
    const std::string dir = ::mkdtemp(dir_template);
    const std::string path = dir + "/index.bin";
    built.save(path);
    const inverted_index loaded = inverted_index::load(path, true);
    CHECK(loaded.n_docs() == built.n_docs() && loaded.n_postings() == built.n_postings());
    CHECK(loaded.scale() == 100.0 && loaded.file_bytes() == read_file(path).size());
    check_exact(loaded, c, q, "loaded");
    CHECK(loaded.clusters().n_clusters() == built.clusters().n_clusters());
    CHECK(loaded.doc_id_bytes().size == built.doc_id_bytes().size);
    CHECK(loaded.order_kind() == doc_order_kind::bp && loaded.doc_order().size == c.n_docs() &&
          std::equal(loaded.doc_map(), loaded.doc_map() + c.n_docs(), built.doc_map()));

    const std::vector<char> bytes = read_file(path);
    const std::string damaged = dir + "/damaged.bin";
    int undetected = 0;
    for (std::size_t cut = 0; cut < bytes.size(); cut += 1 + cut / 8) {
        write_file(damaged, bytes, cut);
        undetected += load_outcome(damaged, true, q) == 0;
    }
    CHECK(undetected == 0);
    undetected = 0;
    for (std::size_t pos = 0; pos < bytes.size(); pos += 1 + pos / 16) {
        std::vector<char> flipped = bytes;
        flipped[pos] = static_cast<char>(flipped[pos] ^ (1 << (pos % 8)));
        write_file(damaged, flipped, flipped.size());
        undetected += load_outcome(damaged, true, q) == 0;
        load_outcome(damaged, false, q);  // must not crash
    }
    CHECK(undetected == 0);
    write_file(damaged, std::vector<char>(300, 'x'), 300);
    CHECK(load_outcome(damaged, true, q) == 1);
    bool missing = false;
    try {
        inverted_index::load(dir + "/absent.bin");
    } catch (const io_error&) {
        missing = true;
    }
    CHECK(missing);
    std::remove(damaged.c_str());
    std::remove(path.c_str());
    ::rmdir(dir.c_str());
}

}  // namespace

int main() {
    test_codec();
    test_checksum();
    test_search(order::input);
    test_search(order::bp);
    test_search(order::reversed);
    test_reorder();
    test_bad_input();
    test_clusters();
    test_persistence();
    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("all engine tests passed (%zu result entries compared per algorithm and thread count)\n", compared);
    return 0;
}
