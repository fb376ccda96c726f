// pybind11 bindings of the engine: the private module splade_core.index._index. Arrays must
// arrive with the exact dtype and C order (the Python wrapper converts them); the GIL is
// released around build, save, load and search; results come back as NumPy arrays that own
// the C++ buffers (no copy).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "splade/clusters.hpp"
#include "splade/index.hpp"
#include "splade/reorder.hpp"
#include "splade/search.hpp"

namespace py = pybind11;
using splade::inverted_index;

namespace {

template <class T>
using carray = py::array_t<T, py::array::c_style>;

template <class T>
void check_1d(const carray<T>& a, const char* name) {
    if (a.ndim() != 1) throw std::invalid_argument(std::string(name) + " must be one-dimensional");
}

// A NumPy array that takes ownership of a vector's buffer.
template <class T>
py::array_t<T> adopt(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
    auto* owned = new std::vector<T>(std::move(v));
    py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
    return py::array_t<T>(shape, owned->data(), owner);
}

// A read-only NumPy view of index memory, keeping the index alive.
template <class T>
py::array_t<T> view(const splade::array_view<T>& v, py::handle owner) {
    py::array_t<T> a({static_cast<py::ssize_t>(v.size)}, {static_cast<py::ssize_t>(sizeof(T))}, v.data, owner);
    a.attr("setflags")(py::arg("write") = false);
    return a;
}

const char* order_name(splade::doc_order_kind kind) {
    switch (kind) {
        case splade::doc_order_kind::bp: return "bp";
        case splade::doc_order_kind::given: return "given";
        case splade::doc_order_kind::input: break;
    }
    return nullptr;
}

splade::doc_order_kind parse_order(const std::string& name) {
    if (name == "bp") return splade::doc_order_kind::bp;
    if (name == "given") return splade::doc_order_kind::given;
    throw std::invalid_argument("unknown doc order kind '" + name + "'");
}

// The documents of a build or reorder call (doc ids left empty when not needed).
splade::build_input documents(const carray<std::int64_t>& indptr, const carray<std::uint32_t>& indices,
                              const py::array& data, std::uint32_t vocab_size) {
    check_1d(indptr, "indptr");
    check_1d(indices, "indices");
    splade::build_input in;
    if (carray<std::uint8_t>::check_(data)) in.impact_bytes = 1;
    else if (carray<std::uint16_t>::check_(data)) in.impact_bytes = 2;
    else throw std::invalid_argument("impacts must be a C-contiguous uint8 or uint16 array");
    if (data.ndim() != 1 || data.shape(0) != indices.shape(0))
        throw std::invalid_argument("indices and data must be one-dimensional and of equal length");
    if (indptr.shape(0) < 1) throw std::invalid_argument("indptr must hold at least one offset");
    in.n_docs = static_cast<std::size_t>(indptr.shape(0) - 1);
    in.indptr = indptr.data();
    in.indices = indices.data();
    in.impacts = data.data();
    in.nnz = static_cast<std::size_t>(indices.shape(0));
    in.vocab_size = vocab_size;
    return in;
}

inverted_index build(const carray<std::int64_t>& indptr, const carray<std::uint32_t>& indices, const py::array& data,
                     std::uint32_t vocab_size, const carray<std::uint64_t>& doc_id_offsets,
                     const carray<std::uint8_t>& doc_id_bytes, std::uint32_t block_size, std::uint64_t dense_min_df,
                     double scale, unsigned threads, const std::optional<carray<std::uint32_t>>& doc_order,
                     const std::string& order_kind, std::uint64_t pass_entries, const std::string& metadata) {
    splade::build_input in = documents(indptr, indices, data, vocab_size);
    check_1d(doc_id_offsets, "doc_id_offsets");
    check_1d(doc_id_bytes, "doc_id_bytes");
    if (doc_id_offsets.shape(0) != indptr.shape(0)) throw std::invalid_argument("one doc id per document is needed");
    if (doc_id_offsets.data()[in.n_docs] != static_cast<std::uint64_t>(doc_id_bytes.shape(0)))
        throw std::invalid_argument("doc id offsets do not end at the size of the doc id bytes");
    in.doc_id_offsets = doc_id_offsets.data();
    in.doc_id_bytes = doc_id_bytes.data();
    splade::build_options options;
    options.block_size = block_size;
    options.dense_min_df = dense_min_df;
    options.scale = scale;
    options.threads = threads;
    options.pass_entries = pass_entries;
    options.metadata = metadata;
    if (doc_order) {
        check_1d(*doc_order, "doc_order");
        if (static_cast<std::size_t>(doc_order->shape(0)) != in.n_docs)
            throw std::invalid_argument("doc_order must hold one entry per document");
        options.doc_order = doc_order->data();
        options.order_kind = parse_order(order_kind);
    }
    py::gil_scoped_release release;
    return inverted_index::build(in, options);
}

// Bisection settings, as the Python wrapper passes them (see BPOptions).
splade::bp_options bp_settings(std::uint32_t block_size, std::uint32_t min_partition, unsigned max_depth,
                               unsigned iterations, std::uint64_t min_df, double max_df_ratio, std::uint64_t seed,
                               unsigned threads) {
    splade::bp_options options;
    options.block_size = block_size;
    options.min_partition = min_partition;
    options.max_depth = max_depth;
    options.iterations = iterations;
    options.min_df = min_df;
    options.max_df_ratio = max_df_ratio;
    options.seed = seed;
    options.threads = threads;
    return options;
}

py::tuple search(const inverted_index& index, const carray<std::int64_t>& indptr, const carray<std::int64_t>& terms,
                 const carray<std::int64_t>& weights, std::size_t k, const std::string& algorithm, unsigned threads,
                 double alpha, double term_ratio, double bound_share, std::uint32_t query_cut, double heap_factor) {
    check_1d(indptr, "indptr");
    check_1d(terms, "indices");
    check_1d(weights, "data");
    if (indptr.shape(0) < 1) throw std::invalid_argument("query indptr must hold at least one offset");
    if (terms.shape(0) != weights.shape(0)) throw std::invalid_argument("query indices and data differ in length");
    splade::query_batch batch{indptr.data(), static_cast<std::size_t>(indptr.shape(0) - 1), terms.data(),
                              weights.data(), static_cast<std::size_t>(terms.shape(0))};
    splade::search_options options;
    options.k = k;
    options.algo = splade::parse_algorithm(algorithm);
    options.threads = threads;
    options.alpha = alpha;
    options.term_ratio = term_ratio;
    options.bound_share = bound_share;
    options.query_cut = query_cut;
    options.heap_factor = heap_factor;
    splade::search_results results;
    {
        py::gil_scoped_release release;
        results = splade::search(index, batch, options);
    }
    const std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(results.n_queries),
                                         static_cast<py::ssize_t>(results.k)};
    return py::make_tuple(adopt(std::move(results.docs), shape), adopt(std::move(results.scores), shape));
}

py::dict stats(const inverted_index& index) {
    py::dict sections;
    std::uint64_t total = 0;
    for (const splade::section_info& s : index.sections()) {
        sections[s.name] = s.bytes;
        total += s.bytes;
    }
    py::dict out;
    out["docs"] = index.n_docs();
    out["terms"] = index.vocab_size();
    out["postings"] = index.n_postings();
    out["block_size"] = index.block_size();
    out["doc_blocks"] = index.n_doc_blocks();
    out["dense_block_max_rows"] = index.n_dense_rows();
    out["impact_dtype"] = index.impact_bytes() == 1 ? "uint8" : "uint16";
    out["codec"] = "simdbp128";
    out["scale"] = index.scale();
    const char* order = order_name(index.order_kind());
    out["doc_order"] = order ? py::object(py::str(order)) : py::object(py::none());
    out["bytes"] = sections;
    out["clusters"] = index.clusters().n_clusters();
    out["section_bytes"] = total;
    out["total_bytes"] = index.file_bytes();
    return out;
}

}  // namespace

PYBIND11_MODULE(_index, m) {
    m.doc() = "Compiled inverted index of splade_core.index (private; use splade_core.index.InvertedIndex).";
    py::register_exception<splade::format_error>(m, "IndexFormatError", PyExc_ValueError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const splade::io_error& e) {
            // OSError(errno, message, filename) becomes FileNotFoundError etc. by errno.
            const py::tuple args = py::make_tuple(e.errno_value, e.what(), e.filename);
            PyErr_SetObject(PyExc_OSError, args.ptr());
        }
    });

    std::vector<std::string> names;
    for (splade::algorithm a : splade::all_algorithms) names.emplace_back(splade::algorithm_name(a));
    m.attr("ALGORITHMS") = py::tuple(py::cast(names));

    py::class_<splade::bp_collector>(m, "BPCollector",
                                     "Collects documents a chunk of rows at a time for recursive graph bisection.")
        .def(py::init<std::uint32_t>(), py::arg("vocab_size"))
        .def("reserve", &splade::bp_collector::reserve, py::arg("n_docs"), py::arg("nnz"))
        .def(
            "add",
            [](splade::bp_collector& collector, const carray<std::int64_t>& indptr,
               const carray<std::uint32_t>& indices, const py::array& data) {
                const splade::build_input rows = documents(indptr, indices, data, 0);
                py::gil_scoped_release release;
                collector.add(rows);
            },
            py::arg("indptr"), py::arg("indices"), py::arg("data"))
        .def_property_readonly("n_docs", &splade::bp_collector::n_docs)
        .def(
            "order",
            [](splade::bp_collector& collector, std::uint32_t block_size, std::uint32_t min_partition,
               unsigned max_depth, unsigned iterations, std::uint64_t min_df, double max_df_ratio, std::uint64_t seed,
               unsigned threads) {
                const splade::bp_options options =
                    bp_settings(block_size, min_partition, max_depth, iterations, min_df, max_df_ratio, seed, threads);
                std::vector<splade::doc_t> order;
                {
                    py::gil_scoped_release release;
                    order = collector.order(options);
                }
                const auto n = static_cast<py::ssize_t>(order.size());
                return adopt(std::move(order), {n});
            },
            py::arg("block_size"), py::arg("min_partition"), py::arg("max_depth"), py::arg("iterations"),
            py::arg("min_df"), py::arg("max_df_ratio"), py::arg("seed"), py::arg("threads"),
            "Recursive graph bisection order of the rows added (element i: the row placed at position i); "
            "the collected terms are released.");

    py::class_<inverted_index>(m, "Index")
        .def_static("build", &build, py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("vocab_size"),
                    py::arg("doc_id_offsets"), py::arg("doc_id_bytes"), py::arg("block_size"), py::arg("dense_min_df"),
                    py::arg("scale"), py::arg("threads"), py::arg("doc_order") = py::none(),
                    py::arg("order_kind") = "given", py::arg("pass_entries") = splade::build_options{}.pass_entries,
                    py::arg("metadata") = "")
        .def_static(
            "load",
            [](const std::string& path, bool verify) {
                py::gil_scoped_release release;
                return inverted_index::load(path, verify);
            },
            py::arg("path"), py::arg("verify") = true)
        .def(
            "save",
            [](const inverted_index& index, const std::string& path) {
                py::gil_scoped_release release;
                index.save(path);
            },
            py::arg("path"))
        .def("search", &search, py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("k"),
             py::arg("algorithm"), py::arg("threads"), py::arg("alpha"), py::arg("term_ratio"), py::arg("bound_share") = 1.0,
             py::arg("query_cut") = 10, py::arg("heap_factor") = 1.0)
        .def(
            "with_clusters",
            [](const inverted_index& index, std::uint64_t n_postings, double max_share, double centroid_fraction,
               std::uint32_t doc_cut, double summary_energy, std::uint32_t min_cluster, std::uint64_t seed,
               unsigned threads) {
                splade::cluster_options options;
                options.n_postings = n_postings;
                options.max_share = max_share;
                options.centroid_fraction = centroid_fraction;
                options.doc_cut = doc_cut;
                options.summary_energy = summary_energy;
                options.min_cluster = min_cluster;
                options.seed = seed;
                options.threads = threads;
                py::gil_scoped_release release;
                return index.with_clusters(options);
            },
            py::arg("n_postings"), py::arg("max_share"), py::arg("centroid_fraction"), py::arg("doc_cut"),
            py::arg("summary_energy"), py::arg("min_cluster"), py::arg("seed"), py::arg("threads"),
            "The same index, sharing its bytes, with the clustered sections of approximate search.")
        .def("stats", &stats)
        .def_property_readonly("n_docs", &inverted_index::n_docs)
        .def_property_readonly("vocab_size", &inverted_index::vocab_size)
        .def_property_readonly("n_postings", &inverted_index::n_postings)
        .def_property_readonly("n_clusters", [](const inverted_index& index) { return index.clusters().n_clusters(); })
        .def_property_readonly("block_size", &inverted_index::block_size)
        .def_property_readonly("impact_bytes", &inverted_index::impact_bytes)
        .def_property_readonly("scale", &inverted_index::scale)
        .def("doc_id_offsets",
             [](py::object self) { return view(self.cast<const inverted_index&>().doc_id_offsets(), self); })
        .def("doc_id_bytes",
             [](py::object self) { return view(self.cast<const inverted_index&>().doc_id_bytes(), self); })
        .def("metadata",
             [](const inverted_index& index) {
                 const auto bytes = index.metadata();
                 return py::bytes(reinterpret_cast<const char*>(bytes.data), bytes.size);
             })
        .def("with_metadata", &inverted_index::with_metadata, py::arg("metadata"),
             "The same index, sharing its bytes, with another metadata section (UTF-8 JSON).")
        .def("doc_order", [](py::object self) -> py::object {
            const auto order = self.cast<const inverted_index&>().doc_order();
            if (order.size == 0) return py::none();
            return view(order, self);
        });
}
