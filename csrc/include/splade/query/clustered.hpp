// Approximate clustered search over the sections of clusters.hpp. The query is cut to its
// query_cut heaviest terms; every cluster of those terms gets an estimate, the dot product of the
// query's estimate_factor x query_cut heaviest terms with the cluster's summary (read from the
// transposed summaries: per query term, its entries in each cut term's range of clusters; the
// lighter terms move few estimates and cost as many lookups as the heavy ones); clusters are
// then opened best estimate first, until the estimate falls below heap_factor x the k-th score
// so far. An opened cluster's documents not seen yet are scored exactly from the forward index,
// so every returned score is the document's true dot product with the query.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "splade/clusters.hpp"
#include "splade/errors.hpp"
#include "splade/index.hpp"
#include "splade/topk_queue.hpp"

namespace splade {

// Clusters are estimated from the query's estimate_factor x query_cut heaviest terms: each
// estimating term costs one lookup per cut term, and the light ones barely move the order in
// which clusters are opened.
inline constexpr std::uint32_t estimate_factor = 2;

struct clustered_settings {
    std::uint32_t query_cut = 10;  // query terms whose clusters are considered
    double heap_factor = 1.0;      // open a cluster while estimate >= heap_factor * k-th score
};

// One binary search of clustered_query::add_estimates: the first entry of a query term's
// summary list at or after the first cluster of cut term `cut`, within [base, base + len).
struct probe {
    std::uint64_t base, len;  // samples still in play (absolute sample indices), then the entry to scan from
    std::uint32_t term, weight, cut;
    std::uint32_t first, last;  // the cut term's clusters
};

// Per-worker buffers of clustered search; they only grow.
template <class Score>
struct clustered_scratch {
    std::vector<probe> probes;
    std::vector<std::uint32_t> weight;  // vocab + 1: the query's weight per term (0 elsewhere)
    std::vector<std::uint64_t> seen;    // one bit per document
    std::vector<doc_t> touched;         // documents whose bit is set
    std::vector<std::pair<std::uint32_t, std::uint32_t>> estimating;  // (term, weight)
    std::vector<std::pair<std::uint32_t, std::uint32_t>> cut;         // (term, weight), by term
    std::vector<std::uint64_t> base;    // per cut term: its first slot in estimate
    std::vector<Score> estimate;
    std::vector<std::pair<Score, std::uint32_t>> candidates;  // (estimate, cluster)
};

template <class Score>
struct clustered_query {
    const inverted_index& index;
    clustered_scratch<Score>& s;
    clustered_settings settings;

    // terms: the query's (term, weight) pairs, ascending by term, every term < vocab_size.
    void operator()(const std::vector<std::pair<std::uint32_t, std::uint32_t>>& terms, topk_queue<Score>& topk) {
        const cluster_sections& c = index.clusters();
        const std::uint32_t vocab = index.vocab_size();
        const std::uint32_t n_docs = index.n_docs();
        if (s.weight.size() < std::size_t{vocab} + 1) s.weight.assign(std::size_t{vocab} + 1, 0);
        if (s.seen.size() < (std::size_t{n_docs} + 63) / 64) s.seen.assign((std::size_t{n_docs} + 63) / 64, 0);
        for (const auto& [t, w] : terms) s.weight[t] = w;
        struct reset {  // the scratch goes back to a shared pool: clean, also after an exception
            const std::vector<std::pair<std::uint32_t, std::uint32_t>>& terms;
            clustered_scratch<Score>& s;
            ~reset() {
                for (const auto& [t, w] : terms) s.weight[t] = 0;
                for (doc_t d : s.touched) s.seen[d >> 6] = 0;
                s.touched.clear();
            }
        } cleanup{terms, s};

        // The estimating terms, heaviest first up to their count, and the cut terms among them.
        const auto heaviest = [](auto& pairs, std::size_t n) {
            if (pairs.size() <= n) return;
            std::nth_element(pairs.begin(), pairs.begin() + static_cast<std::ptrdiff_t>(n), pairs.end(),
                             [](const auto& a, const auto& b) {
                                 return a.second > b.second || (a.second == b.second && a.first < b.first);
                             });
            pairs.resize(n);
        };
        s.estimating.assign(terms.begin(), terms.end());
        heaviest(s.estimating, std::size_t{estimate_factor} * settings.query_cut);
        s.cut.assign(s.estimating.begin(), s.estimating.end());
        heaviest(s.cut, settings.query_cut);
        std::sort(s.cut.begin(), s.cut.end());
        s.base.clear();
        std::uint64_t slots = 0;
        for (const auto& [t, w] : s.cut) {
            s.base.push_back(slots);
            slots += c.term_clusters[t + 1] - c.term_clusters[t];
        }
        s.estimate.assign(slots, 0);
        add_estimates(c);

        s.candidates.clear();
        for (std::size_t i = 0; i < s.cut.size(); ++i) {
            const std::uint32_t first = c.term_clusters[s.cut[i].first];
            const std::uint64_t n = c.term_clusters[s.cut[i].first + 1] - first;
            for (std::uint64_t j = 0; j < n; ++j)
                if (const Score e = s.estimate[s.base[i] + j]; e > 0)
                    s.candidates.emplace_back(e, static_cast<std::uint32_t>(first + j));
        }
        // Best estimate first (ties: smaller cluster), popped from a heap: few are opened.
        const auto lower = [](const auto& a, const auto& b) {
            return a.first < b.first || (a.first == b.first && a.second > b.second);
        };
        std::make_heap(s.candidates.begin(), s.candidates.end(), lower);
        while (!s.candidates.empty()) {
            std::pop_heap(s.candidates.begin(), s.candidates.end(), lower);
            const auto [e, cluster] = s.candidates.back();
            s.candidates.pop_back();
            if (topk.full() &&
                static_cast<double>(e) < settings.heap_factor * static_cast<double>(topk.threshold()))
                break;
            if (!s.candidates.empty()) {  // the next cluster's row offsets, while this one is scored
                const std::uint32_t next = s.candidates.front().second;
                for (std::uint64_t j = c.cluster_offsets[next]; j < c.cluster_offsets[next + 1]; ++j)
                    if (c.cluster_docs[j] < n_docs) __builtin_prefetch(c.forward_offsets.data + c.cluster_docs[j]);
            }
            open(c, cluster, n_docs, vocab, topk);
        }
    }

private:
    // estimate[cluster] += weight * summary value over the estimating terms, for the clusters of
    // every cut term. Each (query term, cut term) range starts within summary_sample entries
    // after the last sample of the query term below the cut term's first cluster; the binary
    // searches over the samples run in lockstep, one step of every search per round, so that
    // their cache misses overlap, and the ranges' first sample blocks are prefetched ahead.
    void add_estimates(const cluster_sections& c) {
        s.probes.clear();
        const std::vector<std::uint64_t>& samples_at = *c.sample_offsets;
        for (const auto& [q, w] : s.estimating) {
            if (c.summary_offsets[q] == c.summary_offsets[q + 1]) continue;
            for (std::uint32_t i = 0; i < s.cut.size(); ++i) {
                const std::uint32_t t = s.cut[i].first;
                s.probes.push_back({samples_at[q], samples_at[q + 1] - samples_at[q], q, w, i, c.term_clusters[t],
                                    c.term_clusters[t + 1]});
            }
        }
        const std::uint32_t* samples = c.summary_samples.data;
        for (bool active = true; active;) {
            active = false;
            for (probe& p : s.probes) {
                if (p.len <= 1) continue;
                const std::uint64_t half = p.len / 2;
                p.base = samples[p.base + half - 1] < p.first ? p.base + half : p.base;
                p.len -= half;
                active |= p.len > 1;
            }
        }
        const summary_entry* entries = c.summary_entries.data;
        for (probe& p : s.probes) {  // base: the entry of the last sample below first (or the list's first)
            const std::uint64_t below = p.base + (samples[p.base] < p.first) - samples_at[p.term];  // of this term
            p.base = c.summary_offsets[p.term] + (below > 0 ? below - 1 : 0) * summary_sample;
        }
        constexpr std::size_t ahead = 8;  // probes whose sample blocks are in flight
        const auto fetch = [entries](std::uint64_t at) {  // the summary_sample entries from `at`
            const char* from = reinterpret_cast<const char*>(entries + at);
            for (std::size_t b = 0; b < summary_sample * sizeof(summary_entry); b += 64) __builtin_prefetch(from + b);
        };
        for (std::size_t i = 0; i < std::min(ahead, s.probes.size()); ++i) fetch(s.probes[i].base);
        for (std::size_t i = 0; i < s.probes.size(); ++i) {
            if (i + ahead < s.probes.size()) fetch(s.probes[i + ahead].base);
            const probe& p = s.probes[i];
            const std::uint64_t end = c.summary_offsets[p.term + 1];
            Score* slot = s.estimate.data() + s.base[p.cut];
            const auto w = static_cast<Score>(p.weight);
            std::uint64_t e = p.base;
            while (e < end && entries[e].cluster() < p.first) ++e;
            for (; e < end && entries[e].cluster() < p.last; ++e) slot[entries[e].cluster() - p.first] += w * entries[e].value();
        }
    }

    // Scores the cluster's documents not seen yet. Their row offsets, then their rows, are
    // prefetched all at once before any is scored, so that the misses overlap.
    void open(const cluster_sections& c, std::uint32_t cluster, std::uint32_t n_docs, std::uint32_t vocab,
              topk_queue<Score>& topk) {
        const doc_t* docs = c.cluster_docs.data + c.cluster_offsets[cluster];
        const std::uint64_t n = c.cluster_offsets[cluster + 1] - c.cluster_offsets[cluster];
        for (std::uint64_t j = 0; j < n; ++j) {
            if (docs[j] >= n_docs) throw format_error("corrupt cluster section (doc index out of range)");
            __builtin_prefetch(c.forward_offsets.data + docs[j]);
        }
        for (std::uint64_t j = 0; j < n; ++j) {
            const std::uint32_t* row = c.forward.data + c.forward_offsets[docs[j]];
            const std::uint32_t* row_end = c.forward.data + c.forward_offsets[docs[j] + 1];
            for (; row < row_end; row += 16) __builtin_prefetch(row);
        }
        const std::uint32_t* weight = s.weight.data();
        for (std::uint64_t j = 0; j < n; ++j) {
            const doc_t d = docs[j];
            std::uint64_t& word = s.seen[d >> 6];
            const std::uint64_t bit = std::uint64_t{1} << (d & 63);
            if (word & bit) continue;
            if (word == 0) s.touched.push_back(d);
            word |= bit;
            Score score = 0;
            const std::uint32_t* r = c.forward.data + c.forward_offsets[d];
            const std::uint32_t* r_end = c.forward.data + c.forward_offsets[d + 1];
            for (; r < r_end; ++r) {
                const std::uint32_t t = std::min(record_term(*r), vocab);  // vocab: weight 0
                score += static_cast<Score>(weight[t]) * record_impact(*r);
            }
            topk.insert(score, d);
        }
    }
};

}  // namespace splade
