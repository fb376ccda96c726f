// The inverted index: term table, posting blocks, doc-range block maxima, external doc ids and,
// for a reordered index, the doc order (internal doc index -> original row), held either in owned buffers (after build) or in a read-only memory map (after load). The
// index is immutable, so any number of threads may search it at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "splade/errors.hpp"
#include "splade/postings.hpp"

namespace splade {

template <class T>
struct array_view {
    const T* data = nullptr;
    std::size_t size = 0;
    const T& operator[](std::size_t i) const { return data[i]; }
    std::size_t bytes() const { return size * sizeof(T); }
};

// An I/O failure (open, write, rename...); carries errno for the bindings.
struct io_error : std::runtime_error {
    io_error(const std::string& what, int error_number, std::string path)
        : std::runtime_error(what), errno_value(error_number), filename(std::move(path)) {}
    int errno_value;
    std::string filename;
};

// Documents as CSR: row d holds the (term, impact) pairs of document d, in any term order.
struct build_input {
    const std::int64_t* indptr = nullptr;  // n_docs + 1 offsets
    std::size_t n_docs = 0;
    const std::uint32_t* indices = nullptr;
    const void* impacts = nullptr;         // uint8 or uint16, as impact_bytes says
    unsigned impact_bytes = 1;
    std::size_t nnz = 0;
    std::uint32_t vocab_size = 0;
    const std::uint64_t* doc_id_offsets = nullptr;  // n_docs + 1 byte offsets into doc_id_bytes
    const std::uint8_t* doc_id_bytes = nullptr;     // UTF-8, concatenated
};

// How the internal doc indices were chosen (stored in the file).
enum class doc_order_kind : std::uint32_t { input = 0, bp = 1, given = 2 };

struct build_options {
    std::uint32_t block_size = 64;   // docs per doc-range block (power of two, 8..65536)
    std::uint64_t dense_min_df = 0;  // terms this frequent get a block-max row; 0: see dense_row_share
    double scale = 0.0;              // quantization scale of the impacts, 0 if unknown
    unsigned threads = 1;
    // Transposed entries (8 bytes each) held at once: the build reads the input once per pass of
    // buckets that fit, so its memory beyond input and index stays bounded (default 512 MB).
    std::uint64_t pass_entries = std::uint64_t{1} << 26;
    // A permutation of the rows: doc_order[i] is the row indexed as internal doc i (null: the
    // input order). Searches still return row indices and break ties by the smaller row.
    const std::uint32_t* doc_order = nullptr;
    doc_order_kind order_kind = doc_order_kind::input;
    // What the documents are (the caller's UTF-8 JSON: model, collection, quantization), stored
    // as is and never interpreted here.
    std::string metadata;
};

// Default block-max rows: terms with at least one posting per dense_row_share doc-range blocks.
// bmp adds a row into its block bounds at a byte per block, and decodes the postings of a term
// without one at every query. On BP-ordered synthetic collections (benchmarks/dense_rows.py,
// exact bmp at k = 10, CPU p50 per query, 2026-12-07), a row per 1 / 2 / 4 / 8 blocks gave
// 0.216 / 0.189 / 0.157 / 0.192 ms at 200 k documents and 0.683 / 0.434 / 0.413 / 0.362 ms at
// 1 M, for indexes of 302 / 326 / 381 / 508 MiB at 1 M: four is where the gain levels off.
inline constexpr std::uint64_t dense_row_share = 4;

// Checks indptr (n_docs + 1 non-decreasing offsets from 0 to nnz) and that every term id is
// below vocab_size; throws std::invalid_argument.
void check_csr(const build_input& in);

// One entry of the transposed summaries: a cluster whose summary holds the term, and the
// summary's value for it; packed into 5 bytes (cluster ids may exceed 2^24).
struct summary_entry {
    std::uint8_t bytes[5];
    std::uint32_t cluster() const {
        std::uint32_t c;
        std::memcpy(&c, bytes, 4);
        return c;
    }
    std::uint8_t value() const { return bytes[4]; }
    static summary_entry make(std::uint32_t cluster, std::uint8_t value) {
        summary_entry e;
        std::memcpy(e.bytes, &cluster, 4);
        e.bytes[4] = value;
        return e;
    }
};
static_assert(sizeof(summary_entry) == 5, "summary_entry is an on-disk record");

// The sections of clustered approximate search (clusters.hpp), all empty when not built.
struct cluster_sections {
    array_view<std::uint64_t> forward_offsets;   // n_docs + 1 offsets into forward
    array_view<std::uint32_t> forward;           // per internal doc, by term: term << 8 | impact
    array_view<std::uint32_t> term_clusters;     // vocab + 1: the clusters of term t
    array_view<std::uint64_t> cluster_offsets;   // n_clusters + 1 offsets into cluster_docs
    array_view<doc_t> cluster_docs;              // internal doc indices, ascending per cluster
    array_view<std::uint64_t> summary_offsets;   // vocab + 1 offsets into the summary entries
    array_view<summary_entry> summary_entries;   // per term: the clusters whose summary holds it, ascending
    // The cluster of every summary_sample-th summary entry, per term (ceil(n / summary_sample) of
    // a term's n entries): a search finds a cluster's entry through them (query/clustered.hpp).
    array_view<std::uint32_t> summary_samples;
    std::shared_ptr<const std::vector<std::uint64_t>> sample_offsets;  // derived: vocab + 1, not stored
    bool empty() const { return forward_offsets.size == 0; }
    std::uint64_t n_clusters() const { return cluster_offsets.size ? cluster_offsets.size - 1 : 0; }
};

inline constexpr std::uint64_t summary_sample = 64;

struct cluster_options;

struct section_info {
    const char* name;
    std::uint64_t bytes;
};

class inverted_index {
public:
    static inverted_index build(const build_input& input, const build_options& options);
    static inverted_index load(const std::string& path, bool verify = true);
    void save(const std::string& path) const;  // atomic: temp file, fsync, rename

    std::uint32_t n_docs() const { return n_docs_; }
    std::uint32_t vocab_size() const { return vocab_size_; }
    std::uint64_t n_postings() const { return n_postings_; }
    std::uint32_t block_size() const { return block_size_; }
    unsigned block_shift() const { return block_shift_; }
    std::uint64_t n_doc_blocks() const { return (std::uint64_t{n_docs_} + block_size_ - 1) >> block_shift_; }
    unsigned impact_bytes() const { return impact_bytes_; }
    double scale() const { return scale_; }
    std::uint64_t n_dense_rows() const { return n_dense_rows_; }
    doc_order_kind order_kind() const { return order_kind_; }
    // Internal doc index -> original row, or null when the index keeps the input order.
    const doc_t* doc_map() const { return doc_order_.size ? doc_order_.data : nullptr; }
    array_view<doc_t> doc_order() const { return doc_order_; }
    array_view<std::uint8_t> metadata() const { return metadata_; }
    // The same index (sharing its bytes) with another metadata section: what `save` then writes.
    inverted_index with_metadata(const std::string& metadata) const;
    // The same index (sharing its bytes) with clustered sections built from its postings
    // (clusters.cpp); throws std::invalid_argument for uint16 impacts or a vocabulary >= 2^24.
    inverted_index with_clusters(const cluster_options& options) const;
    const cluster_sections& clusters() const { return clusters_; }

    const term_entry& term(std::uint32_t t) const { return terms_[t]; }
    posting_list postings(std::uint32_t t) const;
    // Doc-range block maxima of a term with a dense row: one byte per block, exact for uint8
    // impacts, ceil(max * 255 / term max) for uint16 impacts.
    const std::uint8_t* dense_row(std::uint32_t row) const { return block_max_.data + row * n_doc_blocks(); }

    array_view<std::uint64_t> doc_id_offsets() const { return doc_id_offsets_; }
    array_view<std::uint8_t> doc_id_bytes() const { return doc_id_bytes_; }

    std::vector<section_info> sections() const;
    std::uint64_t file_bytes() const;

    struct storage;  // owner of the bytes: buffers or a memory map (opaque)

private:
    void set_derived();

    std::uint32_t n_docs_ = 0;
    std::uint32_t vocab_size_ = 0;
    std::uint64_t n_postings_ = 0;
    std::uint32_t block_size_ = 64;
    unsigned block_shift_ = 6;
    unsigned impact_bytes_ = 1;
    unsigned safe_bits_ = 32;
    double scale_ = 0.0;
    std::uint64_t n_dense_rows_ = 0;
    doc_order_kind order_kind_ = doc_order_kind::input;

    array_view<term_entry> terms_;
    array_view<block_meta> blocks_;
    std::shared_ptr<const std::vector<std::uint32_t>> block_offsets_;  // derived, not stored
    array_view<std::uint8_t> postings_;
    array_view<std::uint8_t> block_max_;
    array_view<std::uint64_t> doc_id_offsets_;
    array_view<std::uint8_t> doc_id_bytes_;
    array_view<doc_t> doc_order_;  // empty unless reordered
    array_view<std::uint8_t> metadata_;
    cluster_sections clusters_;
    std::shared_ptr<const storage> storage_;
};

inline posting_list inverted_index::postings(std::uint32_t t) const {
    const term_entry& e = terms_[t];
    posting_list list;
    list.blocks = blocks_.data + e.first_block;
    list.offsets = block_offsets_->data() + e.first_block;
    list.n_blocks = blocks_for(e.df);
    list.data = postings_.data + e.data_offset;
    list.df = e.df;
    list.max_impact = e.max_impact;
    list.safe_bits = safe_bits_;
    list.block_max = e.dense_row == no_row ? nullptr : dense_row(e.dense_row);
    return list;
}

}  // namespace splade
