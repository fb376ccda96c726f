// MaxScore (Turtle & Flood, "Query evaluation: strategies and optimizations", IP&M 1995), in
// its document-at-a-time form as in PISA: terms sorted by their largest contribution; the
// prefix of terms whose bounds add up to less than the threshold is non-essential, so only
// documents of essential terms are visited, and non-essential lists are probed while the
// document can still reach the threshold.
#pragma once

#include <algorithm>
#include <vector>

#include "splade/query/query.hpp"

namespace splade {

template <class Score>
struct maxscore_query {
    std::vector<posting_cursor>& all;  // per-thread storage for the cursors
    prune_rule rule;

    void operator()(const std::vector<query_term>& terms, topk_queue<Score>& topk) {
        all.clear();
        all.reserve(terms.size());
        for (const query_term& term : terms) all.emplace_back(term.list, term.weight);
        auto bound = [](const posting_cursor* c) { return Score{c->weight()} * c->max_impact(); };
        std::vector<posting_cursor*> order;
        for (posting_cursor& c : all) order.push_back(&c);
        std::sort(order.begin(), order.end(), [&](auto* a, auto* b) { return bound(a) < bound(b); });
        const std::size_t n = order.size();
        std::vector<Score> prefix(n);  // prefix[i]: bound of a doc matching only terms 0..i
        Score sum = 0;
        for (std::size_t i = 0; i < n; ++i) prefix[i] = sum += bound(order[i]);
        auto cursors = [&](std::size_t i) -> posting_cursor& { return *order[i]; };

        std::size_t first_essential = 0;
        Score threshold = topk.threshold_in_order();
        auto update_essential = [&] {
            while (first_essential < n && rule.prunes(prefix[first_essential], threshold)) ++first_essential;
        };
        update_essential();
        for (;;) {
            doc_t doc = end_doc;
            for (std::size_t i = first_essential; i < n; ++i) doc = std::min(doc, cursors(i).docid());
            if (doc == end_doc) break;
            Score score = 0;
            for (std::size_t i = first_essential; i < n; ++i) {
                if (cursors(i).docid() == doc) {
                    score += Score{cursors(i).weight()} * cursors(i).impact();
                    cursors(i).next();
                }
            }
            bool alive = true;
            for (std::size_t i = first_essential; i-- > 0;) {
                if (rule.prunes(static_cast<Score>(score + prefix[i]), threshold)) {
                    alive = false;
                    break;
                }
                cursors(i).next_geq(doc);
                if (cursors(i).docid() == doc) score += Score{cursors(i).weight()} * cursors(i).impact();
            }
            if (alive && topk.insert(score, doc)) {
                threshold = topk.threshold_in_order();
                update_essential();
            }
        }
    }
};

}  // namespace splade
