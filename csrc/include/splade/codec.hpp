// SIMD-BP128 bit packing (Lemire & Boytsov, "Decoding billions of integers per second through
// vectorization", SPE 2015): 128 integers of one block share a bit width b and are stored as
// b 128-bit words in the "vertical" layout (value i sits in 32-bit lane i % 4). Decoding needs
// only SSE2, part of the x86-64 baseline, so no -march flag is required; other targets use the
// scalar path, which reads and writes the same layout.
//
// Blocks shorter than 128 (the tail of every posting list) are packed horizontally into
// ceil(n * b / 32) little-endian 32-bit words, so a one-posting list costs one word.
//
// Doc ids are coded as d-gaps minus one, so decoded lists are strictly increasing by
// construction: docs[i] = prev + sum_{j <= i} (gap_j + 1) (mod 2^32).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#define SPLADE_SSE2 1
#endif

namespace splade {

inline constexpr std::size_t codec_block = 128;

// Bits needed for v (0 for v == 0).
inline unsigned bit_width(std::uint32_t v) { return v == 0 ? 0u : 32u - static_cast<unsigned>(__builtin_clz(v)); }

// Bytes of a packed block of n values at b bits.
inline std::size_t packed_bytes(std::size_t n, unsigned b) {
    return n == codec_block ? 16 * std::size_t{b} : 4 * ((n * b + 31) / 32);
}

inline std::uint32_t load_u32(const std::uint8_t* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

inline void store_u32(std::uint8_t* p, std::uint32_t v) { std::memcpy(p, &v, 4); }

// ---- packing (build time, scalar) -----------------------------------------------------------

// Pack n values (n <= 128) at b bits into out[0, packed_bytes(n, b)); out must be zeroed.
inline void pack(const std::uint32_t* in, std::size_t n, unsigned b, std::uint8_t* out) {
    if (b == 0) return;
    const std::uint64_t mask = b == 32 ? 0xFFFFFFFFull : ((1ull << b) - 1);
    if (n == codec_block) {
        for (std::size_t lane = 0; lane < 4; ++lane) {
            for (std::size_t r = 0; r < 32; ++r) {
                const std::uint64_t v = in[4 * r + lane] & mask;
                const std::size_t bit = r * b, word = bit / 32, shift = bit % 32;
                std::uint8_t* w0 = out + 16 * word + 4 * lane;
                store_u32(w0, load_u32(w0) | static_cast<std::uint32_t>(v << shift));
                if (shift + b > 32) {
                    std::uint8_t* w1 = w0 + 16;
                    store_u32(w1, load_u32(w1) | static_cast<std::uint32_t>(v >> (32 - shift)));
                }
            }
        }
        return;
    }
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t v = in[i] & mask;
        const std::size_t bit = i * b, word = bit / 32, shift = bit % 32;
        std::uint8_t* w0 = out + 4 * word;
        store_u32(w0, load_u32(w0) | static_cast<std::uint32_t>(v << shift));
        if (shift + b > 32) store_u32(w0 + 4, load_u32(w0 + 4) | static_cast<std::uint32_t>(v >> (32 - shift)));
    }
}

// ---- unpacking -------------------------------------------------------------------------------

// Scalar unpack of any block; with delta, out[i] = prev + sum_{j <= i} (v_j + 1).
inline void unpack_scalar(const std::uint8_t* in, std::size_t n, unsigned b, std::uint32_t* out, bool delta,
                          std::uint32_t prev) {
    const std::uint64_t mask = b == 32 ? 0xFFFFFFFFull : ((1ull << b) - 1);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t v = 0;
        if (b != 0) {
            const std::size_t r = n == codec_block ? i / 4 : i;
            const std::size_t lane = n == codec_block ? i % 4 : 0;
            const std::size_t stride = n == codec_block ? 16 : 4;
            const std::size_t bit = r * b, word = bit / 32, shift = bit % 32;
            const std::uint8_t* w0 = in + stride * word + 4 * lane;
            v = std::uint64_t{load_u32(w0)} >> shift;
            if (shift + b > 32) v |= std::uint64_t{load_u32(w0 + stride)} << (32 - shift);
            v &= mask;
        }
        if (delta) {
            prev += static_cast<std::uint32_t>(v) + 1;
            out[i] = prev;
        } else {
            out[i] = static_cast<std::uint32_t>(v);
        }
    }
}

#if SPLADE_SSE2
namespace detail {

template <unsigned B, unsigned R>
inline __m128i extract(const __m128i* in, __m128i mask) {
    constexpr unsigned bit = R * B, word = bit / 32, shift = bit % 32;
    __m128i v = _mm_srli_epi32(_mm_loadu_si128(in + word), shift);
    if constexpr (shift + B > 32) v = _mm_or_si128(v, _mm_slli_epi32(_mm_loadu_si128(in + word + 1), 32 - shift));
    if constexpr (B < 32) v = _mm_and_si128(v, mask);
    return v;
}

// Inclusive prefix sum of (v + 1) over 4 lanes, continued from the last lane of prev.
inline __m128i delta_step(__m128i v, __m128i prev) {
    v = _mm_add_epi32(v, _mm_set1_epi32(1));
    v = _mm_add_epi32(v, _mm_slli_si128(v, 4));
    v = _mm_add_epi32(v, _mm_slli_si128(v, 8));
    return _mm_add_epi32(v, _mm_shuffle_epi32(prev, 0xFF));
}

template <unsigned B, bool Delta, std::size_t... R>
inline void unpack_rows(const __m128i* __restrict in, __m128i* __restrict out, std::uint32_t prev,
                        std::index_sequence<R...>) {
    const __m128i mask = _mm_set1_epi32(B >= 32 ? -1 : static_cast<int>((1u << (B % 32)) - 1));
    __m128i last = _mm_set1_epi32(static_cast<int>(prev));
    auto row = [&](__m128i v, std::size_t r) {
        if constexpr (Delta) {
            last = delta_step(v, last);
            _mm_storeu_si128(out + r, last);
        } else {
            _mm_storeu_si128(out + r, v);
        }
    };
    if constexpr (B == 0) {
        (row(_mm_setzero_si128(), R), ...);
    } else {
        (row(extract<B, R>(in, mask), R), ...);
    }
}

template <unsigned B, bool Delta>
void unpack128(const std::uint8_t* in, std::uint32_t* out, std::uint32_t prev) {
    unpack_rows<B, Delta>(reinterpret_cast<const __m128i*>(in), reinterpret_cast<__m128i*>(out), prev,
                          std::make_index_sequence<32>{});
}

using unpack_fn = void (*)(const std::uint8_t*, std::uint32_t*, std::uint32_t);

template <bool Delta, std::size_t... B>
constexpr auto make_table(std::index_sequence<B...>) {
    struct table {
        unpack_fn fn[33];
    };
    return table{{&unpack128<static_cast<unsigned>(B), Delta>...}};
}

inline constexpr auto delta_table = make_table<true>(std::make_index_sequence<33>{});
inline constexpr auto plain_table = make_table<false>(std::make_index_sequence<33>{});

}  // namespace detail
#endif

// Unpack a full 128-value block at b bits (b <= 32).
inline void unpack128(const std::uint8_t* in, unsigned b, std::uint32_t* out) {
#if SPLADE_SSE2
    detail::plain_table.fn[b](in, out, 0);
#else
    unpack_scalar(in, codec_block, b, out, false, 0);
#endif
}

// Unpack a full 128-value block of gaps; out[i] = prev + sum_{j <= i} (gap_j + 1).
inline void unpack128_delta(const std::uint8_t* in, unsigned b, std::uint32_t* out, std::uint32_t prev) {
#if SPLADE_SSE2
    detail::delta_table.fn[b](in, out, prev);
#else
    unpack_scalar(in, codec_block, b, out, true, prev);
#endif
}

// Any block size (n <= 128).
inline void unpack(const std::uint8_t* in, std::size_t n, unsigned b, std::uint32_t* out) {
    if (n == codec_block) unpack128(in, b, out);
    else unpack_scalar(in, n, b, out, false, 0);
}

inline void unpack_delta(const std::uint8_t* in, std::size_t n, unsigned b, std::uint32_t* out, std::uint32_t prev) {
    if (n == codec_block) unpack128_delta(in, b, out, prev);
    else unpack_scalar(in, n, b, out, true, prev);
}

}  // namespace splade
