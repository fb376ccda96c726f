// Recursive graph bisection (see reorder.hpp). The documents' kept terms are held as a forward
// index in two buffers: a partition reads its documents from one and, once its halves are
// settled, writes them in their new order into the other, where its two halves then read them.
// A partition's documents, hence its byte range, never change, so sibling partitions work on
// disjoint ranges of both buffers and run in parallel.
#include "splade/reorder.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "splade/parallel.hpp"

namespace splade {
namespace {

// Documents (at positions) and their kept terms, in one order. Term ids are 16-bit when the
// vocabulary allows (BERT's 30,522 terms do): half the memory traffic of every pass.
template <class Term>
struct forward_index {
    std::vector<doc_t> doc;          // position -> original doc index
    std::vector<std::uint64_t> off;  // position -> first of its terms (n + 1 entries)
    std::vector<Term> terms;
};

using scored_slot = std::pair<float, std::uint32_t>;  // (move gain, slot in the partition)

// Per-task buffers; the vocabulary-sized arrays are all zero between partitions.
struct workspace {
    explicit workspace(std::uint32_t vocab) {
        for (int h = 0; h < 2; ++h) {
            deg[h].assign(vocab, 0);
            gain[h].assign(vocab, 0.0f);
        }
    }
    std::vector<std::int32_t> deg[2];  // documents of each half holding each term
    std::vector<float> gain[2];        // gain of moving one document's term out of each half
    std::vector<std::uint32_t> seen;   // distinct terms of the partition
    std::vector<scored_slot> half[2];
};

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

bool higher_gain(const scored_slot& a, const scored_slot& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
}

template <class Term>
class bisection {
public:
    using index_type = forward_index<Term>;

    bisection(const bp_options& options, std::uint32_t vocab, index_type* buffers, const std::vector<std::uint32_t>& rank,
              std::vector<doc_t>& out)
        : options_(options), vocab_(vocab), buf_(buffers), rank_(rank), out_(out) {
        const std::size_t n = out.size();
        log2_.resize(n + 3);
        log2_[0] = 0.0;
        for (std::size_t i = 1; i < log2_.size(); ++i) log2_[i] = std::log2(static_cast<double>(i));
        align_ = options.block_size;
        leaf_ = std::max<std::uint64_t>(options.min_partition ? options.min_partition : options.block_size, align_);
    }

    void run(std::size_t begin, std::size_t end, unsigned depth, unsigned threads, workspace& ws) {
        const index_type& src = buf_[depth & 1];
        const std::size_t n = end - begin;
        if (n <= leaf_ || depth >= max_depth()) {
            leaf(src, begin, end);
            return;
        }
        const std::size_t blocks = (n + align_ - 1) / align_;
        const std::size_t n1 = blocks / 2 * align_;
        bisect(src, begin, n1, n, threads, ws);
        write(src, buf_[(depth + 1) & 1], begin, ws);
        const unsigned left_threads = (threads + 1) / 2, right_threads = std::max(1u, threads / 2);
        if (threads > 1) {
            workspace other(vocab_);
            parallel_for(2, 2, 1, [&](unsigned, std::size_t first, std::size_t last) {
                for (std::size_t child = first; child < last; ++child) {
                    if (child == 0) run(begin, begin + n1, depth + 1, left_threads, ws);
                    else run(begin + n1, end, depth + 1, right_threads, other);
                }
            });
        } else {
            run(begin, begin + n1, depth + 1, 1, ws);
            run(begin + n1, end, depth + 1, 1, ws);
        }
    }

private:
    unsigned max_depth() const { return options_.max_depth ? options_.max_depth : std::numeric_limits<unsigned>::max(); }

    // The log-gap cost drop when one document holding the term moves from a half of n_from
    // documents (d_from of them holding it) to the other half (n_to, d_to).
    double move_gain(std::int32_t d_from, std::size_t n_from, std::int32_t d_to, std::size_t n_to) const {
        const double* lg = log2_.data();
        const double from = d_from, to = d_to;  // degrees are below 2^31: exact in a double
        const double before = from * (lg[n_from] - lg[d_from + 1]) + to * (lg[n_to] - lg[d_to + 1]);
        const double after = (from - 1) * (lg[n_from] - lg[d_from]) + (to + 1) * (lg[n_to] - lg[d_to + 2]);
        return before - after;
    }

    template <class F>
    void for_terms(const index_type& src, std::size_t position, F&& f) const {
        const Term* t = src.terms.data() + src.off[position];
        const Term* stop = src.terms.data() + src.off[position + 1];
        for (; t != stop; ++t) f(*t);
    }

    // Swap rounds between [begin, begin + n1) and [begin + n1, begin + n); the settled halves
    // are left in ws.half (slots relative to begin).
    void bisect(const index_type& src, std::size_t begin, std::size_t n1, std::size_t n, unsigned threads,
                workspace& ws) {
        const std::size_t size[2] = {n1, n - n1};
        for (int h = 0; h < 2; ++h) {
            ws.half[h].resize(size[h]);
            for (std::size_t i = 0; i < size[h]; ++i)
                ws.half[h][i] = {0.0f, static_cast<std::uint32_t>(h == 0 ? i : n1 + i)};
        }
        std::int32_t* deg[2] = {ws.deg[0].data(), ws.deg[1].data()};
        for (int h = 0; h < 2; ++h)
            for (const scored_slot& s : ws.half[h])
                for_terms(src, begin + s.second, [&](std::uint32_t t) {
                    if (deg[0][t] == 0 && deg[1][t] == 0) ws.seen.push_back(t);
                    ++deg[h][t];
                });
        for (unsigned iteration = 0; iteration < options_.iterations; ++iteration) {
            for (std::uint32_t t : ws.seen) {
                ws.gain[0][t] = deg[0][t] ? static_cast<float>(move_gain(deg[0][t], size[0], deg[1][t], size[1])) : 0.0f;
                ws.gain[1][t] = deg[1][t] ? static_cast<float>(move_gain(deg[1][t], size[1], deg[0][t], size[0])) : 0.0f;
            }
            for (int h = 0; h < 2; ++h) {
                const float* gain = ws.gain[h].data();
                scored_slot* slots = ws.half[h].data();
                parallel_for(size[h], threads, 4096, [&](unsigned, std::size_t first, std::size_t last) {
                    for (std::size_t i = first; i < last; ++i) {
                        float sum = 0.0f;
                        for_terms(src, begin + slots[i].second, [&](std::uint32_t t) { sum += gain[t]; });
                        slots[i].first = sum;
                    }
                });
            }
            parallel_for(2, threads, 1, [&](unsigned, std::size_t first, std::size_t last) {
                for (std::size_t h = first; h < last; ++h) std::sort(ws.half[h].begin(), ws.half[h].end(), higher_gain);
            });
            std::size_t swapped = 0;
            for (; swapped < std::min(size[0], size[1]); ++swapped) {
                scored_slot& a = ws.half[0][swapped];
                scored_slot& b = ws.half[1][swapped];
                if (!(a.first + b.first > 0.0f)) break;
                for_terms(src, begin + a.second, [&](std::uint32_t t) {
                    --deg[0][t];
                    ++deg[1][t];
                });
                for_terms(src, begin + b.second, [&](std::uint32_t t) {
                    ++deg[0][t];
                    --deg[1][t];
                });
                std::swap(a.second, b.second);
            }
            if (swapped == 0) break;
        }
        for (std::uint32_t t : ws.seen) deg[0][t] = deg[1][t] = 0;
        ws.seen.clear();
    }

    // Writes both halves into dst, each in initial order (the halves' own split starts there).
    void write(const index_type& src, index_type& dst, std::size_t begin, workspace& ws) const {
        auto initial = [&](const scored_slot& a, const scored_slot& b) {
            return rank_[src.doc[begin + a.second]] < rank_[src.doc[begin + b.second]];
        };
        std::size_t at = begin;
        dst.off[begin] = src.off[begin];
        for (int h = 0; h < 2; ++h) {
            std::sort(ws.half[h].begin(), ws.half[h].end(), initial);
            for (const scored_slot& s : ws.half[h]) {
                const std::size_t from = begin + s.second;
                const std::uint64_t length = src.off[from + 1] - src.off[from];
                dst.doc[at] = src.doc[from];
                if (length)
                    std::memcpy(dst.terms.data() + dst.off[at], src.terms.data() + src.off[from],
                                length * sizeof(Term));
                dst.off[at + 1] = dst.off[at] + length;
                ++at;
            }
        }
    }

    // A partition that is not split: its documents in initial order.
    void leaf(const index_type& src, std::size_t begin, std::size_t end) {
        std::copy(src.doc.begin() + static_cast<std::ptrdiff_t>(begin), src.doc.begin() + static_cast<std::ptrdiff_t>(end),
                  out_.begin() + static_cast<std::ptrdiff_t>(begin));
        std::sort(out_.begin() + static_cast<std::ptrdiff_t>(begin), out_.begin() + static_cast<std::ptrdiff_t>(end),
                  [&](doc_t a, doc_t b) { return rank_[a] < rank_[b]; });
    }

    const bp_options& options_;
    std::uint32_t vocab_;
    index_type* buf_;
    const std::vector<std::uint32_t>& rank_;
    std::vector<doc_t>& out_;
    std::vector<double> log2_;
    std::size_t align_ = 64, leaf_ = 64;
};

void check_options(const bp_options& o) {
    if (o.block_size == 0) throw std::invalid_argument("bp block_size must be positive");
    if (!(o.max_df_ratio > 0.0 && o.max_df_ratio <= 1.0))
        throw std::invalid_argument("bp max_df_ratio must be in (0, 1]");
}

// The forward index of the kept terms in start order, from the collected one (all terms, in
// row order), then bisection. The collected terms become the second buffer.
template <class Term>
std::vector<doc_t> run_bisection(std::vector<std::uint64_t>& row_off, std::vector<Term>& row_terms,
                                 const std::vector<std::uint64_t>& df, std::uint32_t vocab,
                                 const bp_options& options) {
    const std::size_t n = row_off.size() - 1;

    // Start order and rank (position in it) of every document.
    std::vector<doc_t> start(n);
    for (std::size_t d = 0; d < n; ++d) start[d] = static_cast<doc_t>(d);
    if (options.seed != 0) {
        std::uint64_t state = options.seed;
        for (std::size_t i = n; i > 1; --i) std::swap(start[i - 1], start[splitmix64(state) % i]);
    }
    std::vector<std::uint32_t> rank(n);
    for (std::size_t i = 0; i < n; ++i) rank[start[i]] = static_cast<std::uint32_t>(i);

    // Kept terms: in at least min_df documents and at most max_df_ratio of them.
    const auto max_df = static_cast<std::uint64_t>(std::floor(options.max_df_ratio * static_cast<double>(n)));
    std::vector<std::uint8_t> keep(vocab);
    for (std::uint32_t t = 0; t < vocab; ++t) keep[t] = df[t] >= std::max<std::uint64_t>(options.min_df, 1) && df[t] <= max_df;

    forward_index<Term> buffers[2];
    forward_index<Term>& first = buffers[0];
    first.doc = start;
    first.off.assign(n + 1, 0);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t kept = 0;
        for (std::uint64_t j = row_off[start[i]]; j < row_off[start[i] + 1]; ++j) kept += keep[row_terms[j]];
        first.off[i + 1] = first.off[i] + kept;
    }
    first.terms.resize(first.off[n]);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t at = first.off[i];
        for (std::uint64_t j = row_off[start[i]]; j < row_off[start[i] + 1]; ++j)
            if (keep[row_terms[j]]) first.terms[at++] = row_terms[j];
    }
    buffers[1].doc.resize(n);
    buffers[1].off = std::move(row_off);
    buffers[1].terms = std::move(row_terms);
    buffers[1].terms.resize(first.terms.size());  // no larger than the collected terms: no reallocation

    std::vector<doc_t> out(n);
    bisection<Term> bp(options, vocab, buffers, rank, out);
    workspace ws(vocab);
    bp.run(0, n, 0, std::max(1u, options.threads), ws);
    return out;
}

template <class Term>
void append_terms(const build_input& rows, std::vector<std::uint64_t>& off, std::vector<Term>& terms,
                  std::vector<std::uint64_t>& df, std::vector<std::uint32_t>& last) {
    auto impact = [&](std::size_t j) {
        return rows.impact_bytes == 1 ? static_cast<const std::uint8_t*>(rows.impacts)[j]
                                      : static_cast<const std::uint16_t*>(rows.impacts)[j];
    };
    std::size_t nonzero = 0;
    for (std::size_t j = 0; j < rows.nnz; ++j) nonzero += impact(j) != 0;
    const std::size_t first_row = off.size() - 1;
    if (first_row + rows.n_docs > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
        throw std::invalid_argument("at most 2^31 - 1 documents are supported");
    std::size_t at = terms.size();
    terms.resize(at + nonzero);
    off.reserve(off.size() + rows.n_docs);
    for (std::size_t r = 0; r < rows.n_docs; ++r) {
        const auto row = static_cast<std::uint32_t>(first_row + r);
        for (auto j = static_cast<std::size_t>(rows.indptr[r]); j < static_cast<std::size_t>(rows.indptr[r + 1]); ++j) {
            if (impact(j) == 0) continue;
            const std::uint32_t t = rows.indices[j];
            if (last[t] == row + 1)
                throw std::invalid_argument("document row " + std::to_string(row) + " holds term id " +
                                            std::to_string(t) + " twice (sum or drop duplicates first)");
            last[t] = row + 1;
            ++df[t];
            terms[at++] = static_cast<Term>(t);
        }
        off.push_back(at);
    }
}

}  // namespace

bp_collector::bp_collector(std::uint32_t vocab_size)
    : vocab_(vocab_size), narrow_(vocab_size <= 0x10000), off_{0}, df_(vocab_size, 0), last_(vocab_size, 0) {}

void bp_collector::reserve(std::size_t n_docs, std::size_t nnz) {
    off_.reserve(n_docs + 1);
    if (narrow_) terms16_.reserve(nnz);
    else terms32_.reserve(nnz);
}

void bp_collector::add(const build_input& rows) {
    build_input in = rows;
    in.vocab_size = vocab_;
    check_csr(in);
    if (narrow_) append_terms(in, off_, terms16_, df_, last_);
    else append_terms(in, off_, terms32_, df_, last_);
}

std::vector<doc_t> bp_collector::order(const bp_options& options) {
    check_options(options);
    std::vector<doc_t> out = narrow_ ? run_bisection(off_, terms16_, df_, vocab_, options)
                                     : run_bisection(off_, terms32_, df_, vocab_, options);
    off_.assign(1, 0);
    std::vector<std::uint16_t>().swap(terms16_);
    std::vector<std::uint32_t>().swap(terms32_);
    std::fill(df_.begin(), df_.end(), 0);
    std::fill(last_.begin(), last_.end(), 0);
    return out;
}

std::vector<doc_t> bp_order(const build_input& in, const bp_options& options) {
    check_options(options);  // before the copy of the terms
    bp_collector collector(in.vocab_size);
    collector.reserve(in.n_docs, in.nnz);
    collector.add(in);
    return collector.order(options);
}

}  // namespace splade
