// Exception types of the engine; the bindings map format_error to IndexFormatError (a
// ValueError) and std::invalid_argument to ValueError.
#pragma once

#include <stdexcept>
#include <string>

namespace splade {

// A file that is not an index, or an index that is truncated or corrupted.
struct format_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace splade
