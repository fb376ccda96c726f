// XXH64 (Yann Collet, xxHash specification v0.1.1), used for the per-section checksums of the
// index file. Little-endian reads; the index format is little-endian only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace splade {

namespace detail {

inline constexpr std::uint64_t xxh_p1 = 0x9E3779B185EBCA87ull;
inline constexpr std::uint64_t xxh_p2 = 0xC2B2AE3D27D4EB4Full;
inline constexpr std::uint64_t xxh_p3 = 0x165667B19E3779F9ull;
inline constexpr std::uint64_t xxh_p4 = 0x85EBCA77C2B2AE63ull;
inline constexpr std::uint64_t xxh_p5 = 0x27D4EB2F165667C5ull;

inline std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline std::uint64_t read64(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

inline std::uint32_t read32(const std::uint8_t* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

inline std::uint64_t xxh_round(std::uint64_t acc, std::uint64_t lane) {
    return rotl(acc + lane * xxh_p2, 31) * xxh_p1;
}

inline std::uint64_t xxh_merge(std::uint64_t acc, std::uint64_t v) {
    return (acc ^ xxh_round(0, v)) * xxh_p1 + xxh_p4;
}

}  // namespace detail

inline std::uint64_t xxhash64(const void* data, std::size_t len, std::uint64_t seed = 0) {
    using namespace detail;
    const auto* p = static_cast<const std::uint8_t*>(data);
    const std::uint8_t* const end = p + len;
    std::uint64_t h;
    if (len >= 32) {
        std::uint64_t v1 = seed + xxh_p1 + xxh_p2, v2 = seed + xxh_p2, v3 = seed, v4 = seed - xxh_p1;
        const std::uint8_t* const limit = end - 32;
        do {
            v1 = xxh_round(v1, read64(p));
            v2 = xxh_round(v2, read64(p + 8));
            v3 = xxh_round(v3, read64(p + 16));
            v4 = xxh_round(v4, read64(p + 24));
            p += 32;
        } while (p <= limit);
        h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
        h = xxh_merge(h, v1);
        h = xxh_merge(h, v2);
        h = xxh_merge(h, v3);
        h = xxh_merge(h, v4);
    } else {
        h = seed + xxh_p5;
    }
    h += static_cast<std::uint64_t>(len);
    for (; p + 8 <= end; p += 8) h = rotl(h ^ xxh_round(0, read64(p)), 27) * xxh_p1 + xxh_p4;
    if (p + 4 <= end) {
        h = rotl(h ^ (std::uint64_t{read32(p)} * xxh_p1), 23) * xxh_p2 + xxh_p3;
        p += 4;
    }
    for (; p < end; ++p) h = rotl(h ^ (std::uint64_t{*p} * xxh_p5), 11) * xxh_p1;
    h ^= h >> 33;
    h *= xxh_p2;
    h ^= h >> 29;
    h *= xxh_p3;
    h ^= h >> 32;
    return h;
}

}  // namespace splade
