// Building the clustered sections (clusters.hpp) from an index's own postings: the forward
// index, the collection-wide selection of each term's heaviest postings, their clustering
// (random centroids; each document joins the centroid whose whole vector best matches its
// doc_cut heaviest terms; clusters below min_cluster documents dissolved into the others), and
// the transposed summaries. Memory beyond the index: the forward index (4 bytes a posting), each
// document's heaviest terms (4 bytes x doc_cut), the clusters (4 bytes a kept posting) and the
// summaries (5 bytes an entry); the summaries are computed twice (count, then fill) rather than
// held twice. Deterministic for a given seed, whatever the number of threads.
#include "splade/clusters.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "index_storage.hpp"
#include "splade/parallel.hpp"

namespace splade {
namespace {

struct cluster_storage final : inverted_index::storage {
    std::shared_ptr<const inverted_index::storage> base;
    std::vector<std::uint64_t> forward_offsets;
    std::vector<std::uint32_t> forward;
    std::vector<std::uint32_t> term_clusters;
    std::vector<std::uint64_t> cluster_offsets;
    std::vector<doc_t> cluster_docs;
    std::vector<std::uint64_t> summary_offsets;
    std::vector<summary_entry> summary_entries;
    std::vector<std::uint32_t> summary_samples;
};

// A term's whole posting list, decoded.
void decode_list(const posting_list& list, std::vector<doc_t>& docs, std::vector<std::uint32_t>& impacts) {
    docs.resize(list.n_blocks * codec_block);
    impacts.resize(list.n_blocks * codec_block);
    for (std::uint64_t b = 0; b < list.n_blocks; ++b) {
        decode_docs(list, b, docs.data() + b * codec_block);
        decode_impacts(list, b, impacts.data() + b * codec_block);
    }
    docs.resize(list.df);
    impacts.resize(list.df);
}

// Per internal doc, its (term, impact) records by term: the row lengths from the doc ids, then
// the rows from a second pass over the postings.
void build_forward(const inverted_index& index, cluster_storage& out) {
    const std::uint32_t n_docs = index.n_docs();
    std::vector<doc_t> docs(codec_block);
    std::vector<std::uint32_t> impacts;
    out.forward_offsets.assign(std::uint64_t{n_docs} + 1, 0);
    for (std::uint32_t t = 0; t < index.vocab_size(); ++t) {
        const posting_list list = index.postings(t);
        for (std::uint64_t b = 0; b < list.n_blocks; ++b) {
            const std::uint32_t n = decode_docs(list, b, docs.data());
            for (std::uint32_t i = 0; i < n; ++i) ++out.forward_offsets[docs[i] + 1];
        }
    }
    std::partial_sum(out.forward_offsets.begin(), out.forward_offsets.end(), out.forward_offsets.begin());
    out.forward.resize(out.forward_offsets.back());
    std::vector<std::uint64_t> next(out.forward_offsets.begin(), out.forward_offsets.end() - 1);
    for (std::uint32_t t = 0; t < index.vocab_size(); ++t) {
        decode_list(index.postings(t), docs, impacts);
        for (std::size_t i = 0; i < docs.size(); ++i)
            out.forward[next[docs[i]]++] = forward_record(t, impacts[i]);
    }
}

// Per term, how many of its heaviest postings to keep: the vocab_size x n_postings heaviest of
// the collection (all postings of the impact where that count is reached), at most `cap` a term.
std::vector<std::uint32_t> kept_per_term(const inverted_index& index, const cluster_options& o) {
    const std::uint32_t vocab = index.vocab_size();
    const auto cap = static_cast<std::uint64_t>(
        std::min(std::ceil(o.max_share * static_cast<double>(o.n_postings)), static_cast<double>(UINT32_MAX)));
    std::vector<std::array<std::uint32_t, 256>> histograms(vocab);
    std::array<std::uint64_t, 256> total{};
    parallel_for(vocab, o.threads, 256, [&](unsigned, std::size_t begin, std::size_t end) {
        std::vector<std::uint32_t> impacts(codec_block);
        for (std::size_t t = begin; t < end; ++t) {
            auto& h = histograms[t];
            h.fill(0);
            const posting_list list = index.postings(static_cast<std::uint32_t>(t));
            for (std::uint64_t b = 0; b < list.n_blocks; ++b) {
                decode_impacts(list, b, impacts.data());
                for (std::uint32_t i = 0; i < block_length(list.df, b); ++i) ++h[impacts[i]];
            }
        }
    });
    for (const auto& h : histograms) {  // each term's capped heaviest postings, by impact
        std::uint64_t left = cap;
        for (int v = 255; v > 0 && left > 0; --v) {
            const std::uint64_t take = std::min<std::uint64_t>(left, h[v]);
            total[v] += take;
            left -= take;
        }
    }
    const std::uint64_t wanted = std::uint64_t{vocab} * o.n_postings;
    int threshold = 1;
    std::uint64_t reached = 0;
    for (int v = 255; v > 0; --v) {
        reached += total[v];
        if (reached >= wanted) {
            threshold = v;
            break;
        }
    }
    std::vector<std::uint32_t> kept(vocab);
    for (std::uint32_t t = 0; t < vocab; ++t) {
        std::uint64_t n = 0;
        for (int v = 255; v >= threshold; --v) n += histograms[t][v];
        kept[t] = static_cast<std::uint32_t>(std::min(n, cap));
    }
    return kept;
}

// Each document's doc_cut heaviest records (ties: smaller term), padded with zeros.
std::vector<std::uint32_t> heaviest_terms(const cluster_storage& s, std::uint32_t n_docs, const cluster_options& o) {
    const std::uint32_t cut = o.doc_cut;
    std::vector<std::uint32_t> heads(std::uint64_t{n_docs} * cut, 0);
    parallel_for(n_docs, o.threads, 4096, [&](unsigned, std::size_t begin, std::size_t end) {
        std::vector<std::uint32_t> row;
        const auto heavier = [](std::uint32_t a, std::uint32_t b) {
            return record_impact(a) > record_impact(b) || (record_impact(a) == record_impact(b) && a < b);
        };
        for (std::size_t d = begin; d < end; ++d) {
            row.assign(s.forward.begin() + static_cast<std::ptrdiff_t>(s.forward_offsets[d]),
                       s.forward.begin() + static_cast<std::ptrdiff_t>(s.forward_offsets[d + 1]));
            const std::size_t n = std::min<std::size_t>(cut, row.size());
            std::partial_sort(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(n), row.end(), heavier);
            std::copy(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(n), heads.begin() + static_cast<std::ptrdiff_t>(d * cut));
        }
    });
    return heads;
}

// Scratch of one clustering worker.
struct cluster_scratch {
    std::vector<doc_t> docs;
    std::vector<std::uint32_t> impacts;
    std::vector<std::uint32_t> order;
    std::vector<std::uint32_t> slot;         // vocab: centroid-list slot of a term + 1, 0 if none
    std::vector<std::uint32_t> slot_terms;   // terms with a slot
    std::vector<std::uint64_t> slot_begin;   // per slot: its first entry
    std::vector<std::pair<std::uint32_t, std::uint32_t>> entries;  // (centroid, impact) per slot
    std::vector<std::uint64_t> score;        // per centroid
    std::vector<std::uint32_t> assigned;     // per document: its centroid
    std::vector<std::uint32_t> sizes;
};

// Clusters of the documents `docs` (ascending) of one term: a list of clusters, each its docs
// ascending, appended to `out` (docs) and `ends` (one end offset per cluster).
void cluster_list(const cluster_storage& s, const std::vector<std::uint32_t>& heads, std::uint32_t term,
                  const std::vector<doc_t>& docs, const cluster_options& o, cluster_scratch& w,
                  std::vector<doc_t>& out, std::vector<std::uint32_t>& ends) {
    const auto m = static_cast<std::uint32_t>(docs.size());
    const auto n_centroids = static_cast<std::uint32_t>(std::clamp<double>(
        std::ceil(o.centroid_fraction * m), 1.0, static_cast<double>(m)));
    const auto emit_all = [&] {
        out.insert(out.end(), docs.begin(), docs.end());
        ends.push_back(static_cast<std::uint32_t>(out.size()));
    };
    if (m == 0) return;
    if (n_centroids == 1 || m < 2 * o.min_cluster) {
        emit_all();
        return;
    }
    std::mt19937_64 rng(o.seed ^ (std::uint64_t{term} * 0x9E3779B97F4A7C15ull));
    w.order.resize(m);
    std::iota(w.order.begin(), w.order.end(), 0u);
    for (std::uint32_t i = 0; i < n_centroids; ++i)  // a partial Fisher-Yates shuffle
        std::swap(w.order[i], w.order[i + std::uniform_int_distribution<std::uint32_t>(0, m - 1 - i)(rng)]);
    // An inverted index of the centroids' whole vectors.
    w.slot_terms.clear();
    std::vector<std::uint32_t> counts;
    for (std::uint32_t c = 0; c < n_centroids; ++c) {
        const doc_t d = docs[w.order[c]];
        for (std::uint64_t r = s.forward_offsets[d]; r < s.forward_offsets[d + 1]; ++r) {
            const std::uint32_t t = record_term(s.forward[r]);
            if (w.slot[t] == 0) {
                w.slot_terms.push_back(t);
                w.slot[t] = static_cast<std::uint32_t>(w.slot_terms.size());
                counts.push_back(0);
            }
            ++counts[w.slot[t] - 1];
        }
    }
    w.slot_begin.assign(counts.size() + 1, 0);
    for (std::size_t i = 0; i < counts.size(); ++i) w.slot_begin[i + 1] = w.slot_begin[i] + counts[i];
    w.entries.resize(w.slot_begin.back());
    std::vector<std::uint64_t> fill(w.slot_begin.begin(), w.slot_begin.end() - 1);
    for (std::uint32_t c = 0; c < n_centroids; ++c) {
        const doc_t d = docs[w.order[c]];
        for (std::uint64_t r = s.forward_offsets[d]; r < s.forward_offsets[d + 1]; ++r)
            w.entries[fill[w.slot[record_term(s.forward[r])] - 1]++] = {c, record_impact(s.forward[r])};
    }
    // Each document joins its best live centroid (ties: the first); a document matching none
    // joins centroid 0.
    w.sizes.assign(n_centroids, 0);
    w.assigned.resize(m);
    const auto best_centroid = [&](doc_t d, const std::vector<std::uint32_t>* live) {
        w.score.assign(n_centroids, 0);
        const std::uint32_t* head = heads.data() + std::uint64_t{d} * o.doc_cut;
        for (std::uint32_t i = 0; i < o.doc_cut && head[i] != 0; ++i) {
            const std::uint32_t slot = w.slot[record_term(head[i])];
            if (slot == 0) continue;
            for (std::uint64_t e = w.slot_begin[slot - 1]; e < w.slot_begin[slot]; ++e)
                w.score[w.entries[e].first] += std::uint64_t{record_impact(head[i])} * w.entries[e].second;
        }
        std::uint32_t best = 0;
        bool found = false;
        for (std::uint32_t c = 0; c < n_centroids; ++c) {
            if (live && (*live)[c] < o.min_cluster) continue;
            if (!found || w.score[c] > w.score[best]) best = c, found = true;
        }
        return best;
    };
    for (std::uint32_t i = 0; i < m; ++i) ++w.sizes[w.assigned[i] = best_centroid(docs[i], nullptr)];
    const std::vector<std::uint32_t> first_sizes = w.sizes;
    const bool any_live = std::any_of(first_sizes.begin(), first_sizes.end(),
                                      [&](std::uint32_t n) { return n >= o.min_cluster; });
    if (any_live)  // dissolve the small clusters: their documents join their best live centroid
        for (std::uint32_t i = 0; i < m; ++i)
            if (first_sizes[w.assigned[i]] < o.min_cluster) w.assigned[i] = best_centroid(docs[i], &first_sizes);
    for (std::uint32_t t : w.slot_terms) w.slot[t] = 0;
    if (!any_live) {
        emit_all();
        return;
    }
    // Counting sort of the documents by centroid; they stay ascending within each.
    w.sizes.assign(n_centroids + 1, 0);
    for (std::uint32_t i = 0; i < m; ++i) ++w.sizes[w.assigned[i] + 1];
    std::partial_sum(w.sizes.begin(), w.sizes.end(), w.sizes.begin());
    const std::size_t base = out.size();
    out.resize(base + m);
    std::vector<std::uint32_t> at(w.sizes.begin(), w.sizes.end() - 1);
    for (std::uint32_t i = 0; i < m; ++i) out[base + at[w.assigned[i]]++] = docs[i];
    for (std::uint32_t c = 0; c < n_centroids; ++c)
        if (w.sizes[c + 1] > w.sizes[c]) ends.push_back(static_cast<std::uint32_t>(base + w.sizes[c + 1]));
}

// The kept postings of term t (its `keep` heaviest, ties: smaller doc), ascending by doc.
void kept_docs(const inverted_index& index, std::uint32_t t, std::uint32_t keep, cluster_scratch& w) {
    decode_list(index.postings(t), w.docs, w.impacts);
    if (keep < w.docs.size()) {
        w.order.resize(w.docs.size());
        std::iota(w.order.begin(), w.order.end(), 0u);
        std::nth_element(w.order.begin(), w.order.begin() + keep, w.order.end(), [&](std::uint32_t a, std::uint32_t b) {
            return w.impacts[a] > w.impacts[b] || (w.impacts[a] == w.impacts[b] && a < b);
        });
        w.order.resize(keep);
        std::sort(w.order.begin(), w.order.end());
        for (std::uint32_t i = 0; i < keep; ++i) w.docs[i] = w.docs[w.order[i]];
        w.docs.resize(keep);
    }
}

// All terms' clusters, in term order, a chunk of terms at a time (so that the per-term results
// held at once stay bounded).
void build_clusters(const inverted_index& index, const std::vector<std::uint32_t>& heads, const cluster_options& o,
                    cluster_storage& s) {
    const std::uint32_t vocab = index.vocab_size();
    const std::vector<std::uint32_t> kept = kept_per_term(index, o);
    const unsigned threads = std::max(1u, o.threads);
    std::vector<cluster_scratch> scratch(threads);
    for (auto& w : scratch) w.slot.assign(vocab, 0);
    s.term_clusters.assign(std::uint64_t{vocab} + 1, 0);
    s.cluster_offsets.assign(1, 0);
    constexpr std::uint32_t chunk = 1024;
    std::vector<std::vector<doc_t>> docs(chunk);
    std::vector<std::vector<std::uint32_t>> ends(chunk);
    for (std::uint32_t first = 0; first < vocab; first += chunk) {
        const std::uint32_t n = std::min(chunk, vocab - first);
        parallel_for(n, threads, 1, [&](unsigned worker, std::size_t begin, std::size_t end) {
            cluster_scratch& w = scratch[worker];
            for (std::size_t i = begin; i < end; ++i) {
                const auto t = static_cast<std::uint32_t>(first + i);
                docs[i].clear();
                ends[i].clear();
                kept_docs(index, t, kept[t], w);
                cluster_list(s, heads, t, w.docs, o, w, docs[i], ends[i]);  // (it leaves w.docs alone)
            }
        });
        for (std::uint32_t i = 0; i < n; ++i) {
            const std::uint64_t base = s.cluster_docs.size();
            s.cluster_docs.insert(s.cluster_docs.end(), docs[i].begin(), docs[i].end());
            for (std::uint32_t e : ends[i]) s.cluster_offsets.push_back(base + e);
            if (s.cluster_offsets.size() - 1 > UINT32_MAX) throw std::invalid_argument("too many clusters (2^32)");
            s.term_clusters[first + i + 1] = static_cast<std::uint32_t>(s.cluster_offsets.size() - 1);
        }
    }
}

// The summary of cluster c: (term, value) of its heaviest maxima up to summary_energy of their
// sum (values are bytes: a histogram finds the value where the energy is reached; of the terms
// at that value, the first ones met are kept).
void summarize(const cluster_storage& s, std::uint64_t c, double energy, std::vector<std::uint8_t>& maxima,
               std::vector<std::uint32_t>& touched, std::vector<std::pair<std::uint32_t, std::uint8_t>>& out) {
    touched.clear();
    for (std::uint64_t i = s.cluster_offsets[c]; i < s.cluster_offsets[c + 1]; ++i) {
        const doc_t d = s.cluster_docs[i];
        for (std::uint64_t r = s.forward_offsets[d]; r < s.forward_offsets[d + 1]; ++r) {
            const std::uint32_t t = record_term(s.forward[r]);
            const auto v = static_cast<std::uint8_t>(record_impact(s.forward[r]));
            if (maxima[t] == 0) touched.push_back(t);
            maxima[t] = std::max(maxima[t], v);
        }
    }
    std::array<std::uint32_t, 256> count{};
    std::uint64_t sum = 0;
    for (std::uint32_t t : touched) {
        ++count[maxima[t]];
        sum += maxima[t];
    }
    const double wanted = energy * static_cast<double>(sum);
    std::uint64_t above = 0;  // mass of the values above `value`
    int value = 255;
    for (; value > 1; --value) {
        const std::uint64_t with = above + std::uint64_t{count[value]} * static_cast<std::uint64_t>(value);
        if (static_cast<double>(with) >= wanted) break;
        above = with;
    }
    // at `value`: as many terms as reach the energy (at least one term in all)
    std::uint64_t at_value = 0;
    while (at_value < count[value] && (static_cast<double>(above + at_value * static_cast<std::uint64_t>(value)) < wanted ||
                                       (above == 0 && at_value == 0)))
        ++at_value;
    out.clear();
    for (std::uint32_t t : touched) {
        const std::uint8_t v = maxima[t];
        maxima[t] = 0;
        if (v > value || (v == value && at_value > 0)) {
            out.emplace_back(t, v);
            if (v == value) --at_value;
        }
    }
}

// The transposed summaries: counted in one pass over the clusters, written in a second.
void build_summaries(std::uint32_t vocab, const cluster_options& o, cluster_storage& s) {
    const std::uint64_t n_clusters = s.cluster_offsets.size() - 1;
    const unsigned threads = std::max(1u, o.threads);
    constexpr std::uint64_t chunk = 1 << 14;
    std::vector<std::vector<std::pair<std::uint32_t, std::uint8_t>>> summaries(chunk);
    std::vector<std::vector<std::uint8_t>> maxima(threads, std::vector<std::uint8_t>(vocab, 0));
    std::vector<std::vector<std::uint32_t>> touched(threads);
    s.summary_offsets.assign(std::uint64_t{vocab} + 1, 0);
    std::vector<std::uint64_t> next;
    for (int pass = 0; pass < 2; ++pass) {
        for (std::uint64_t first = 0; first < n_clusters; first += chunk) {
            const std::uint64_t n = std::min(chunk, n_clusters - first);
            parallel_for(n, threads, 64, [&](unsigned worker, std::size_t begin, std::size_t end) {
                for (std::size_t i = begin; i < end; ++i)
                    summarize(s, first + i, o.summary_energy, maxima[worker], touched[worker], summaries[i]);
            });
            for (std::uint64_t i = 0; i < n; ++i)
                for (const auto& [t, v] : summaries[i]) {
                    if (pass == 0) {
                        ++s.summary_offsets[t + 1];
                    } else {
                        s.summary_entries[next[t]++] = summary_entry::make(static_cast<std::uint32_t>(first + i), v);
                    }
                }
        }
        if (pass == 0) {
            std::partial_sum(s.summary_offsets.begin(), s.summary_offsets.end(), s.summary_offsets.begin());
            s.summary_entries.resize(s.summary_offsets.back());
            next.assign(s.summary_offsets.begin(), s.summary_offsets.end() - 1);
        }
    }
}

void check_options(const inverted_index& index, const cluster_options& o) {
    if (index.impact_bytes() != 1)
        throw std::invalid_argument("clustered search needs 8-bit impacts (quantize to uint8), not 16-bit");
    if (index.vocab_size() > max_clustered_vocab)
        throw std::invalid_argument("clustered search supports vocabularies below 2^24 terms");
    if (o.n_postings == 0) throw std::invalid_argument("n_postings must be positive");
    if (!(o.max_share >= 1.0 && std::isfinite(o.max_share))) throw std::invalid_argument("max_share must be finite, >= 1");
    if (!(o.centroid_fraction > 0.0 && o.centroid_fraction <= 1.0))
        throw std::invalid_argument("centroid_fraction must be in (0, 1]");
    if (o.doc_cut == 0 || o.doc_cut > 1024) throw std::invalid_argument("doc_cut must be in [1, 1024]");
    if (!(o.summary_energy > 0.0 && o.summary_energy <= 1.0))
        throw std::invalid_argument("summary_energy must be in (0, 1]");
    if (o.min_cluster == 0) throw std::invalid_argument("min_cluster must be positive");
}

}  // namespace

std::shared_ptr<const std::vector<std::uint64_t>> sample_offsets(const array_view<std::uint64_t>& summary_offsets) {
    auto offsets = std::make_shared<std::vector<std::uint64_t>>(summary_offsets.size, 0);
    for (std::size_t t = 1; t < summary_offsets.size; ++t) {
        const std::uint64_t n = summary_offsets[t] - summary_offsets[t - 1];
        (*offsets)[t] = (*offsets)[t - 1] + (n + summary_sample - 1) / summary_sample;
    }
    return offsets;
}

inverted_index inverted_index::with_clusters(const cluster_options& options) const {
    check_options(*this, options);
    auto store = std::make_shared<cluster_storage>();
    store->base = storage_;
    build_forward(*this, *store);
    {
        const std::vector<std::uint32_t> heads = heaviest_terms(*store, n_docs_, options);
        build_clusters(*this, heads, options, *store);
    }
    build_summaries(vocab_size_, options, *store);
    for (std::uint32_t t = 0; t < vocab_size_; ++t)
        for (std::uint64_t e = store->summary_offsets[t]; e < store->summary_offsets[t + 1]; e += summary_sample)
            store->summary_samples.push_back(store->summary_entries[e].cluster());
    inverted_index copy = *this;
    auto& c = copy.clusters_;
    c.forward_offsets = {store->forward_offsets.data(), store->forward_offsets.size()};
    c.forward = {store->forward.data(), store->forward.size()};
    c.term_clusters = {store->term_clusters.data(), store->term_clusters.size()};
    c.cluster_offsets = {store->cluster_offsets.data(), store->cluster_offsets.size()};
    c.cluster_docs = {store->cluster_docs.data(), store->cluster_docs.size()};
    c.summary_offsets = {store->summary_offsets.data(), store->summary_offsets.size()};
    c.summary_entries = {store->summary_entries.data(), store->summary_entries.size()};
    c.summary_samples = {store->summary_samples.data(), store->summary_samples.size()};
    c.sample_offsets = sample_offsets(c.summary_offsets);
    copy.storage_ = std::move(store);
    return copy;
}

}  // namespace splade
