// Index construction: CSR documents -> term-major posting lists (counting-sort transposes keep
// each list in doc order), then per term: block skip data, SIMD-BP128 packing, the impact at
// ranks 10/100/1000 and, for frequent terms, a row of doc-range block maxima.
#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "index_storage.hpp"
#include "splade/codec.hpp"
#include "splade/index.hpp"
#include "splade/parallel.hpp"

namespace splade {
namespace {

void check_input(const build_input& in, const build_options& options) {
    check_csr(in);
    const std::uint32_t bs = options.block_size;
    if (bs < 8 || bs > 65536 || (bs & (bs - 1)) != 0)
        throw std::invalid_argument("block_size must be a power of two in [8, 65536], not " + std::to_string(bs));
    if (in.doc_id_offsets[0] != 0) throw std::invalid_argument("doc id offsets must start at 0");
    for (std::size_t d = 0; d < in.n_docs; ++d)
        if (in.doc_id_offsets[d + 1] < in.doc_id_offsets[d])
            throw std::invalid_argument("doc id offsets must be non-decreasing");
    if (options.doc_order) {
        std::vector<bool> seen(in.n_docs, false);
        for (std::size_t i = 0; i < in.n_docs; ++i) {
            const std::uint32_t row = options.doc_order[i];
            if (row >= in.n_docs || seen[row])
                throw std::invalid_argument("doc_order must be a permutation of the " + std::to_string(in.n_docs) +
                                            " rows (entry " + std::to_string(i) + " is " + std::to_string(row) + ")");
            seen[row] = true;
        }
    }
}

std::uint32_t impact_at(const build_input& in, std::size_t j) {
    return in.impact_bytes == 1 ? static_cast<const std::uint8_t*>(in.impacts)[j]
                                : static_cast<const std::uint16_t*>(in.impacts)[j];
}

// One term's postings in doc order (a view into a bucket's sorted arrays).
struct term_postings {
    const doc_t* docs;
    const std::uint16_t* impacts;
    std::uint64_t df;
};

// Terms are cut into contiguous ranges ("buckets") of similar posting volume. The transpose is
// two counting sorts: documents -> buckets (a few hundred output streams, TLB friendly), then,
// per bucket and in parallel, bucket -> terms, followed directly by the encoding of those terms.
struct bucket_plan {
    std::vector<std::uint32_t> first_term;  // bucket b holds terms [first_term[b], first_term[b + 1])
    std::vector<std::uint64_t> start;       // its entries in the bucketed array
};

bucket_plan plan_buckets(const std::vector<std::uint64_t>& df, std::uint64_t nnz) {
    const std::uint64_t target = std::max<std::uint64_t>(nnz / 256, 1 << 16);
    bucket_plan plan;
    plan.first_term.push_back(0);
    plan.start.push_back(0);
    std::uint64_t in_bucket = 0;
    const auto vocab = static_cast<std::uint32_t>(df.size());
    for (std::uint32_t t = 0; t < vocab; ++t) {
        if (t > plan.first_term.back() && (in_bucket + df[t] > target || t - plan.first_term.back() == 65536)) {
            plan.first_term.push_back(t);
            plan.start.push_back(plan.start.back() + in_bucket);
            in_bucket = 0;
        }
        in_bucket += df[t];
    }
    plan.first_term.push_back(vocab);
    plan.start.push_back(plan.start.back() + in_bucket);
    return plan;
}

// Entries doc << 32 | (term - bucket's first term) << 16 | impact of buckets [b0, b1), grouped
// by bucket, each bucket in (internal) doc order; internal doc d is row doc_order[d] (zero
// impacts dropped). Entry i of the result is entry plan.start[b0] + i of the whole transpose.
std::unique_ptr<std::uint64_t[]> scatter_to_buckets(const build_input& in, const bucket_plan& plan,
                                                    const std::uint32_t* doc_order, std::size_t b0,
                                                    std::size_t b1) {
    constexpr std::uint32_t elsewhere = std::numeric_limits<std::uint32_t>::max();
    std::vector<std::uint32_t> bucket_of(in.vocab_size, elsewhere);
    for (std::size_t b = b0; b < b1; ++b)
        std::fill(bucket_of.begin() + plan.first_term[b], bucket_of.begin() + plan.first_term[b + 1],
                  static_cast<std::uint32_t>(b));
    std::vector<std::uint64_t> fill(plan.start.begin() + b0, plan.start.begin() + b1);
    for (auto& f : fill) f -= plan.start[b0];
    std::unique_ptr<std::uint64_t[]> entries(new std::uint64_t[plan.start[b1] - plan.start[b0]]);  // all written
    for (std::size_t d = 0; d < in.n_docs; ++d) {
        const std::size_t row = doc_order ? doc_order[d] : d;
        for (auto j = static_cast<std::size_t>(in.indptr[row]); j < static_cast<std::size_t>(in.indptr[row + 1]);
             ++j) {
            const std::uint32_t t = in.indices[j];
            const std::uint32_t b = bucket_of[t];
            if (b == elsewhere) continue;
            const std::uint32_t impact = impact_at(in, j);
            if (impact == 0) continue;
            entries[fill[b - b0]++] = std::uint64_t{d} << 32 | std::uint64_t{t - plan.first_term[b]} << 16 | impact;
        }
    }
    return entries;
}

// Consecutive bucket ranges [passes[i], passes[i + 1]) of at most `budget` entries each (a
// larger bucket is a pass of its own).
std::vector<std::size_t> plan_passes(const bucket_plan& plan, std::uint64_t budget) {
    const std::size_t n_buckets = plan.first_term.size() - 1;
    std::vector<std::size_t> passes{0};
    for (std::size_t b = 0; b < n_buckets; ++b)
        if (b > passes.back() && plan.start[b + 1] - plan.start[passes.back()] > budget) passes.push_back(b);
    passes.push_back(n_buckets);
    return passes;
}

// Sorts one bucket's entries by term (stable, so each list stays in doc order).
struct bucket_sorter {
    std::vector<std::uint64_t> start;
    std::vector<doc_t> docs;
    std::vector<std::uint16_t> impacts;

    void sort(const std::uint64_t* entries, std::uint64_t n, std::uint32_t first_term, std::uint32_t n_terms,
              const std::uint32_t* doc_order) {
        start.assign(std::size_t{n_terms} + 1, 0);
        for (std::uint64_t i = 0; i < n; ++i) ++start[((entries[i] >> 16) & 0xFFFF) + 1];
        for (std::uint32_t t = 0; t < n_terms; ++t) start[t + 1] += start[t];
        docs.resize(n);
        impacts.resize(n);
        std::vector<std::uint64_t> fill(start.begin(), start.end() - 1);
        for (std::uint64_t i = 0; i < n; ++i) {
            const std::uint64_t e = entries[i];
            const auto local = static_cast<std::uint32_t>((e >> 16) & 0xFFFF);
            const auto doc = static_cast<doc_t>(e >> 32);
            const std::uint64_t p = fill[local]++;
            if (p > start[local] && docs[p - 1] == doc)
                throw std::invalid_argument("document row " + std::to_string(doc_order ? doc_order[doc] : doc) +
                                            " holds term id " +
                                            std::to_string(first_term + local) +
                                            " twice (sum or drop duplicates first)");
            docs[p] = doc;
            impacts[p] = static_cast<std::uint16_t>(e & 0xFFFF);
        }
    }

    term_postings term(std::uint32_t local) const {
        return {docs.data() + start[local], impacts.data() + start[local], start[local + 1] - start[local]};
    }
};

// Skip data of every block of a list; returns the bytes of its packed blocks.
std::uint64_t plan_term(const term_postings& p, block_meta* metas, std::uint32_t* offsets) {
    std::uint64_t bytes = 0;
    doc_t prev = end_doc;
    for (std::uint64_t b = 0; b < blocks_for(p.df); ++b) {
        const std::uint32_t n = block_length(p.df, b);
        std::uint32_t max_gap = 0, max_impact = 0;
        for (std::uint32_t i = 0; i < n; ++i) {
            const doc_t doc = p.docs[b * codec_block + i];
            max_gap = std::max(max_gap, doc - prev - 1);  // prev == end_doc wraps to doc
            max_impact = std::max<std::uint32_t>(max_impact, p.impacts[b * codec_block + i]);
            prev = doc;
        }
        block_meta& m = metas[b];
        m.last_doc = prev;
        m.max_impact = static_cast<std::uint16_t>(max_impact);
        m.doc_bits = static_cast<std::uint8_t>(bit_width(max_gap));
        m.impact_bits = static_cast<std::uint8_t>(bit_width(max_impact));
        if (bytes > std::numeric_limits<std::uint32_t>::max()) throw std::length_error("a posting list exceeds 4 GiB");
        offsets[b] = static_cast<std::uint32_t>(bytes);
        bytes += block_bytes(n, m);
    }
    return bytes;
}

void pack_term(const term_postings& p, const block_meta* metas, const std::uint32_t* offsets, std::uint8_t* out) {
    std::uint32_t buffer[codec_block];
    doc_t prev = end_doc;
    for (std::uint64_t b = 0; b < blocks_for(p.df); ++b) {
        const std::uint32_t n = block_length(p.df, b);
        const block_meta& m = metas[b];
        for (std::uint32_t i = 0; i < n; ++i) {
            const doc_t doc = p.docs[b * codec_block + i];
            buffer[i] = doc - prev - 1;
            prev = doc;
        }
        pack(buffer, n, m.doc_bits, out + offsets[b]);
        for (std::uint32_t i = 0; i < n; ++i) buffer[i] = p.impacts[b * codec_block + i];
        pack(buffer, n, m.impact_bits, out + offsets[b] + packed_bytes(n, m.doc_bits));
    }
}

// Impacts at ranks 10, 100, 1000 (1-based, descending), 0 where the list is shorter.
void kth_impacts(const term_postings& p, term_entry& e, std::vector<std::uint16_t>& scratch) {
    for (std::size_t i = 0; i < n_kth; ++i) e.kth_impact[i] = 0;
    if (p.df < kth_ranks[0]) return;
    if (e.max_impact <= 0xFF) {  // histogram
        std::uint64_t count[256] = {};
        for (std::uint64_t i = 0; i < p.df; ++i) ++count[p.impacts[i]];
        std::uint64_t seen = 0;
        std::size_t r = 0;
        for (int v = 255; v >= 0 && r < n_kth; --v) {
            seen += count[v];
            while (r < n_kth && seen >= kth_ranks[r]) e.kth_impact[r++] = static_cast<std::uint16_t>(v);
        }
        return;
    }
    scratch.assign(p.impacts, p.impacts + p.df);
    auto end = scratch.end();
    for (std::size_t i = n_kth; i-- > 0;) {  // largest rank first, then narrow the range
        if (p.df < kth_ranks[i]) continue;
        auto nth = scratch.begin() + (kth_ranks[i] - 1);
        std::nth_element(scratch.begin(), nth, end, std::greater<>());
        e.kth_impact[i] = *nth;
        end = nth + 1;
    }
}

void fill_dense_row(const term_postings& p, const term_entry& e, unsigned shift, bool exact, std::uint8_t* row) {
    for (std::uint64_t i = 0; i < p.df; ++i) {
        const std::uint32_t m = p.impacts[i];
        const auto q = static_cast<std::uint8_t>(exact ? m : (m * 255u + e.max_impact - 1) / e.max_impact);
        std::uint8_t& cell = row[p.docs[i] >> shift];
        cell = std::max(cell, q);
    }
}

}  // namespace

void check_csr(const build_input& in) {
    if (in.n_docs > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
        throw std::invalid_argument("at most 2^31 - 1 documents are supported");
    if (in.impact_bytes != 1 && in.impact_bytes != 2) throw std::invalid_argument("impacts must be uint8 or uint16");
    if (in.indptr[0] != 0) throw std::invalid_argument("indptr must start at 0");
    for (std::size_t d = 0; d < in.n_docs; ++d)
        if (in.indptr[d + 1] < in.indptr[d]) throw std::invalid_argument("indptr must be non-decreasing");
    if (static_cast<std::uint64_t>(in.indptr[in.n_docs]) != in.nnz)
        throw std::invalid_argument("indptr[-1] differs from the number of entries");
    for (std::size_t j = 0; j < in.nnz; ++j)
        if (in.indices[j] >= in.vocab_size)
            throw std::invalid_argument("term id " + std::to_string(in.indices[j]) + " >= vocab_size " +
                                        std::to_string(in.vocab_size));
}

inverted_index inverted_index::build(const build_input& in, const build_options& options) {
    check_input(in, options);
    auto store = std::make_shared<owned_storage>();
    inverted_index index;
    index.n_docs_ = static_cast<std::uint32_t>(in.n_docs);
    index.vocab_size_ = in.vocab_size;
    index.block_size_ = options.block_size;
    index.impact_bytes_ = in.impact_bytes;
    index.scale_ = options.scale;
    index.set_derived();
    const std::uint32_t vocab = in.vocab_size;
    const std::uint64_t n_blocks = index.n_doc_blocks();
    const std::uint64_t dense_min_df = std::max<std::uint64_t>(
        1, options.dense_min_df ? options.dense_min_df : (n_blocks + dense_row_share - 1) / dense_row_share);

    // Term table: block ranges and dense rows follow from the document frequencies alone.
    std::vector<std::uint64_t> df(vocab, 0);
    for (std::size_t j = 0; j < in.nnz; ++j)
        if (impact_at(in, j) != 0) ++df[in.indices[j]];
    store->terms.assign(vocab, term_entry{});
    std::uint64_t n_meta = 0, n_dense = 0, n_postings = 0;
    for (std::uint32_t t = 0; t < vocab; ++t) {
        term_entry& e = store->terms[t];
        if (df[t] > std::numeric_limits<std::uint32_t>::max())
            throw std::length_error("a term has more than 2^32 postings");
        e.df = static_cast<std::uint32_t>(df[t]);
        e.first_block = n_meta;
        n_meta += blocks_for(df[t]);
        n_postings += df[t];
        e.dense_row = df[t] >= dense_min_df ? static_cast<std::uint32_t>(n_dense++) : no_row;
    }
    store->blocks.resize(n_meta);
    auto block_offsets = std::make_shared<std::vector<std::uint32_t>>(n_meta);
    store->block_max.assign(n_dense * n_blocks, 0);

    const bucket_plan plan = plan_buckets(df, n_postings);
    const std::vector<std::size_t> passes = plan_passes(plan, std::max<std::uint64_t>(options.pass_entries, 1));
    std::vector<bucket_sorter> sorters(std::max(1u, options.threads));
    for (std::size_t pass = 0; pass + 1 < passes.size(); ++pass) {
        const std::size_t b0 = passes[pass], b1 = passes[pass + 1];
        std::unique_ptr<std::uint64_t[]> entries = scatter_to_buckets(in, plan, options.doc_order, b0, b1);
        std::vector<std::vector<std::uint8_t>> packed(b1 - b0);
        parallel_for(b1 - b0, options.threads, 1, [&](unsigned worker, std::size_t begin, std::size_t end) {
            bucket_sorter& sorter = sorters[worker];
            std::vector<std::uint16_t> scratch;
            for (std::size_t b = b0 + begin; b < b0 + end; ++b) {
                const std::uint32_t first = plan.first_term[b], n_terms = plan.first_term[b + 1] - first;
                sorter.sort(entries.get() + (plan.start[b] - plan.start[b0]), plan.start[b + 1] - plan.start[b],
                            first, n_terms, options.doc_order);
                std::uint64_t bytes = 0;
                for (std::uint32_t local = 0; local < n_terms; ++local) {
                    term_entry& e = store->terms[first + local];
                    const term_postings p = sorter.term(local);
                    block_meta* metas = store->blocks.data() + e.first_block;
                    e.data_offset = bytes;  // within the bucket for now
                    e.data_bytes = plan_term(p, metas, block_offsets->data() + e.first_block);
                    bytes += e.data_bytes;
                    for (std::uint64_t k = 0; k < blocks_for(p.df); ++k)
                        e.max_impact = std::max(e.max_impact, metas[k].max_impact);
                    kth_impacts(p, e, scratch);
                    if (e.dense_row != no_row)
                        fill_dense_row(p, e, index.block_shift_, in.impact_bytes == 1,
                                       store->block_max.data() + e.dense_row * n_blocks);
                }
                std::vector<std::uint8_t>& out = packed[b - b0];
                out.assign(bytes, 0);
                for (std::uint32_t local = 0; local < n_terms; ++local) {
                    const term_entry& e = store->terms[first + local];
                    pack_term(sorter.term(local), store->blocks.data() + e.first_block,
                              block_offsets->data() + e.first_block, out.data() + e.data_offset);
                }
            }
        });
        entries.reset();
        for (std::size_t b = b0; b < b1; ++b) {  // the pass's lists, in term order, after the earlier ones
            for (std::uint32_t t = plan.first_term[b]; t < plan.first_term[b + 1]; ++t)
                store->terms[t].data_offset += store->postings.size;
            store->postings.append(packed[b - b0].data(), packed[b - b0].size());
            std::vector<std::uint8_t>().swap(packed[b - b0]);
        }
    }

    store->doc_id_offsets.assign(in.doc_id_offsets, in.doc_id_offsets + in.n_docs + 1);
    store->doc_id_bytes.assign(in.doc_id_bytes, in.doc_id_bytes + in.doc_id_offsets[in.n_docs]);
    if (options.doc_order && in.n_docs > 0) {
        store->doc_order.assign(options.doc_order, options.doc_order + in.n_docs);
        index.order_kind_ = options.order_kind == doc_order_kind::input ? doc_order_kind::given : options.order_kind;
    }

    store->metadata.assign(options.metadata.begin(), options.metadata.end());

    index.n_postings_ = n_postings;
    index.n_dense_rows_ = n_dense;
    index.terms_ = {store->terms.data(), store->terms.size()};
    index.blocks_ = {store->blocks.data(), store->blocks.size()};
    index.block_offsets_ = std::move(block_offsets);
    index.postings_ = {store->postings.data(), store->postings.size};
    index.block_max_ = {store->block_max.data(), store->block_max.size()};
    index.doc_id_offsets_ = {store->doc_id_offsets.data(), store->doc_id_offsets.size()};
    index.doc_id_bytes_ = {store->doc_id_bytes.data(), store->doc_id_bytes.size()};
    index.doc_order_ = {store->doc_order.data(), store->doc_order.size()};
    index.metadata_ = {store->metadata.data(), store->metadata.size()};
    index.storage_ = std::move(store);
    return index;
}

namespace {

// The bytes of another index plus a metadata section of its own.
struct annotated_storage final : inverted_index::storage {
    std::shared_ptr<const inverted_index::storage> base;
    std::vector<std::uint8_t> metadata;
};

}  // namespace

inverted_index inverted_index::with_metadata(const std::string& metadata) const {
    auto store = std::make_shared<annotated_storage>();
    store->base = storage_;
    store->metadata.assign(metadata.begin(), metadata.end());
    inverted_index copy = *this;
    copy.metadata_ = {store->metadata.data(), store->metadata.size()};
    copy.storage_ = std::move(store);
    return copy;
}

void inverted_index::set_derived() {
    block_shift_ = static_cast<unsigned>(__builtin_ctz(block_size_));
    // Widest gap width whose worst-case block sum cannot wrap 32 bits (see decode_docs).
    safe_bits_ = 0;
    while (safe_bits_ < 32 && std::uint64_t{n_docs_} + (std::uint64_t{codec_block} << (safe_bits_ + 1)) <= (1ull << 32))
        ++safe_bits_;
}

std::vector<section_info> inverted_index::sections() const {
    return {{"terms", terms_.bytes()},
            {"blocks", blocks_.bytes()},
            {"postings", postings_.bytes()},
            {"block_max", block_max_.bytes()},
            {"doc_id_offsets", doc_id_offsets_.bytes()},
            {"doc_ids", doc_id_bytes_.bytes()},
            {"doc_order", doc_order_.bytes()},
            {"metadata", metadata_.bytes()},
            {"forward_offsets", clusters_.forward_offsets.bytes()},
            {"forward", clusters_.forward.bytes()},
            {"term_clusters", clusters_.term_clusters.bytes()},
            {"cluster_offsets", clusters_.cluster_offsets.bytes()},
            {"cluster_docs", clusters_.cluster_docs.bytes()},
            {"summary_offsets", clusters_.summary_offsets.bytes()},
            {"summary_entries", clusters_.summary_entries.bytes()},
            {"summary_samples", clusters_.summary_samples.bytes()}};
}

}  // namespace splade
