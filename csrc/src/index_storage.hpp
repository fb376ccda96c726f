// Owners of an index's bytes: vectors after a build, a read-only memory map after a load.
#pragma once

#include <cstdint>
#include <vector>

#include "splade/index.hpp"

namespace splade {

struct inverted_index::storage {
    virtual ~storage() = default;
};

struct owned_storage final : inverted_index::storage {
    std::vector<term_entry> terms;
    std::vector<block_meta> blocks;
    std::vector<std::uint8_t> postings;
    std::vector<std::uint8_t> block_max;
    std::vector<std::uint64_t> doc_id_offsets;
    std::vector<std::uint8_t> doc_id_bytes;
    std::vector<doc_t> doc_order;
};

}  // namespace splade
