// Owners of an index's bytes: vectors after a build, a read-only memory map after a load.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "splade/index.hpp"

namespace splade {

struct inverted_index::storage {
    virtual ~storage() = default;
};

// Bytes grown by realloc: large blocks move by remapping pages, not by copying them, so
// appending the packed postings pass by pass never holds the index twice.
struct byte_buffer {
    std::unique_ptr<std::uint8_t, decltype(&std::free)> bytes{nullptr, &std::free};
    std::size_t size = 0;

    void append(const std::uint8_t* data, std::size_t n) {
        if (n == 0) return;
        void* grown = std::realloc(bytes.get(), size + n);
        if (grown == nullptr) throw std::bad_alloc();
        (void)bytes.release();
        bytes.reset(static_cast<std::uint8_t*>(grown));
        std::memcpy(bytes.get() + size, data, n);
        size += n;
    }
    const std::uint8_t* data() const { return bytes.get(); }
};

struct owned_storage final : inverted_index::storage {
    std::vector<term_entry> terms;
    std::vector<block_meta> blocks;
    byte_buffer postings;
    std::vector<std::uint8_t> block_max;
    std::vector<std::uint64_t> doc_id_offsets;
    std::vector<std::uint8_t> doc_id_bytes;
    std::vector<doc_t> doc_order;
    std::vector<std::uint8_t> metadata;
};

}  // namespace splade
