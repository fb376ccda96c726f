// A minimal fork-join loop over std::thread: items are handed out in chunks from an atomic
// counter; the first exception thrown by any worker is rethrown on the calling thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace splade {

// Calls body(worker, begin, end) over [0, n) in chunks of `chunk` items.
template <class Body>
void parallel_for(std::size_t n, unsigned threads, std::size_t chunk, Body&& body) {
    chunk = std::max<std::size_t>(chunk, 1);
    const std::size_t chunks = std::max<std::size_t>(1, (n + chunk - 1) / chunk);
    threads = static_cast<unsigned>(std::clamp<std::size_t>(threads, 1, chunks));
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto work = [&](unsigned worker) {
        try {
            for (;;) {
                if (failed.load(std::memory_order_relaxed)) return;
                const std::size_t begin = next.fetch_add(chunk);
                if (begin >= n) return;
                body(worker, begin, std::min(n, begin + chunk));
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            failed = true;
        }
    };
    if (threads == 1) {
        work(0);
    } else {
        std::vector<std::thread> pool;
        pool.reserve(threads - 1);
        try {
            for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work, t);
        } catch (...) {  // could not start a thread: stop the others, then report
            failed = true;
            for (auto& thread : pool) thread.join();
            throw;
        }
        work(0);
        for (auto& thread : pool) thread.join();
    }
    if (error) std::rethrow_exception(error);
}

}  // namespace splade
