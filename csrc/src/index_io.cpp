// Index file: a fixed little-endian header (magic, format version, byte-order mark, counts,
// quantization scale, how the doc order was chosen, a table of eight sections with an XXH64
// checksum each, and a checksum of the header itself), then the sections, each 64-byte aligned:
//   terms (term_entry[vocab]) | blocks (block_meta[]) | postings (packed blocks) |
//   block_max (uint8[dense rows][doc blocks]) | doc_id_offsets (uint64[n_docs + 1]) | doc_ids (UTF-8) |
//   doc_order (uint32[n_docs], internal doc -> original row; empty when not reordered) |
//   metadata (UTF-8 JSON from the caller: the documents' model, collection, quantization) |
//   the clustered sections of approximate search (clusters.hpp; all empty unless built):
//   forward_offsets | forward | term_clusters | cluster_offsets | cluster_docs |
//   summary_offsets | summary_entries | summary_samples
// Doc ids are kept in original row order. Earlier versions (1: six sections, 2: no metadata,
// 3: no clustered sections) are refused with a message asking for a rebuild.
// save() writes a temp file beside the target, fsyncs it and renames it over the target.
// load() memory-maps the file, checks the header, the section table and every offset and
// count against the file (always), and the section checksums (unless verify is false).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "index_storage.hpp"
#include "splade/checksum.hpp"
#include "splade/clusters.hpp"
#include "splade/index.hpp"

namespace splade {
namespace {

constexpr char file_magic[8] = {'S', 'P', 'L', 'D', 'I', 'D', 'X', '1'};
constexpr std::uint32_t format_version = 4;  // bump on any layout change
constexpr std::uint32_t byte_order_mark = 0x01020304;
constexpr std::uint32_t codec_simdbp128 = 1;
constexpr std::size_t section_count = 16;
constexpr std::uint64_t section_alignment = 64;

struct section_entry {
    std::uint32_t id;
    std::uint32_t reserved;
    std::uint64_t offset;
    std::uint64_t bytes;
    std::uint64_t checksum;
};

struct file_header {
    char magic[8];
    std::uint32_t version;
    std::uint32_t byte_order;
    std::uint32_t header_bytes;
    std::uint32_t n_sections;
    std::uint64_t file_bytes;
    std::uint64_t n_docs;
    std::uint64_t vocab_size;
    std::uint64_t n_postings;
    std::uint64_t n_dense_rows;
    std::uint32_t block_size;
    std::uint32_t posting_block;
    std::uint32_t impact_bytes;
    std::uint32_t codec;
    double scale;
    std::uint32_t order_kind;  // doc_order_kind
    std::uint32_t reserved;
    section_entry sections[section_count];
    std::uint64_t header_checksum;  // XXH64 of every byte above
};
static_assert(sizeof(file_header) == 616, "file_header is an on-disk record");
constexpr std::size_t version_offset = offsetof(file_header, version);

std::uint64_t align_up(std::uint64_t v) { return (v + section_alignment - 1) / section_alignment * section_alignment; }

std::uint64_t header_checksum(const file_header& h) { return xxhash64(&h, offsetof(file_header, header_checksum)); }

// ---- writing ---------------------------------------------------------------------------------

// The process umask, read without changing it (umask(2) would race with other threads).
mode_t current_umask() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("Umask:", 0) == 0) return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
    return 022;
}

class temp_file {
public:
    explicit temp_file(const std::string& target) : target_(target) {
        const auto slash = target.find_last_of('/');
        const std::string dir = slash == std::string::npos ? "." : target.substr(0, slash == 0 ? 1 : slash);
        const std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
        dir_ = dir;
        const std::string pattern = dir + "/.tmp-" + base + ".XXXXXX";
        std::vector<char> name(pattern.begin(), pattern.end());
        name.push_back('\0');
        fd_ = ::mkstemp(name.data());
        if (fd_ < 0) fail("cannot create a temporary file beside", target_);
        path_ = name.data();
        ::fchmod(fd_, 0666 & ~current_umask());  // mkstemp makes 0600; give the usual mode
    }
    ~temp_file() {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) ::unlink(path_.c_str());
    }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;

    void write(const void* data, std::size_t n) {
        const auto* p = static_cast<const char*>(data);
        while (n > 0) {
            const ::ssize_t w = ::write(fd_, p, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) fail("cannot write", path_);
            p += w;
            n -= static_cast<std::size_t>(w);
        }
    }

    void pad_to(std::uint64_t offset, std::uint64_t& at) {
        static const char zeros[section_alignment] = {};
        if (offset > at) write(zeros, static_cast<std::size_t>(offset - at));
        at = offset;
    }

    void commit() {
        if (::fsync(fd_) != 0) fail("cannot fsync", path_);
        if (::close(fd_) != 0) {
            fd_ = -1;
            fail("cannot close", path_);
        }
        fd_ = -1;
        if (::rename(path_.c_str(), target_.c_str()) != 0) fail("cannot rename the temporary file to", target_);
        committed_ = true;
        const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd >= 0) {  // make the rename durable; a failure here loses no data
            ::fsync(dir_fd);
            ::close(dir_fd);
        }
    }

private:
    [[noreturn]] static void fail(const std::string& what, const std::string& path) {
        const int e = errno;
        throw io_error(what + " " + path + ": " + std::strerror(e), e, path);
    }

    std::string target_, dir_, path_;
    int fd_ = -1;
    bool committed_ = false;
};

// ---- reading ---------------------------------------------------------------------------------

struct mapped_file final : inverted_index::storage {
    void* addr = nullptr;
    std::size_t size = 0;
    ~mapped_file() override {
        if (addr) ::munmap(addr, size);
    }
};

std::shared_ptr<mapped_file> map_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int e = errno;
        throw io_error("cannot open " + path + ": " + std::strerror(e), e, path);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const int e = S_ISDIR(st.st_mode) ? EISDIR : errno;
        ::close(fd);
        throw io_error(path + " is not a regular file", e, path);
    }
    auto file = std::make_shared<mapped_file>();
    file->size = static_cast<std::size_t>(st.st_size);
    if (file->size > 0) {
        void* addr = ::mmap(nullptr, file->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (addr == MAP_FAILED) {
            const int e = errno;
            ::close(fd);
            throw io_error("cannot map " + path + ": " + std::strerror(e), e, path);
        }
        file->addr = addr;
    }
    ::close(fd);
    return file;
}

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
    throw format_error(path + ": corrupt index (" + why + ")");
}

const file_header& check_header(const std::string& path, const mapped_file& file) {
    const auto* bytes = static_cast<const std::uint8_t*>(file.addr);
    if (file.size < sizeof(file_magic) || std::memcmp(bytes, file_magic, sizeof(file_magic)) != 0)
        throw format_error(path + ": not a splade-core index (bad magic)");
    if (file.size >= version_offset + 4) {  // before the size check: older headers are shorter
        std::uint32_t version;
        std::memcpy(&version, bytes + version_offset, 4);
        if (version != format_version)
            throw format_error(path + ": index format version " + std::to_string(version) + ", this build reads " +
                               std::to_string(format_version) + " (rebuild the index, or it is corrupt)");
    }
    if (file.size < sizeof(file_header))
        throw format_error(path + ": truncated index (" + std::to_string(file.size) + " bytes, header needs " +
                           std::to_string(sizeof(file_header)) + ")");
    const auto& h = *static_cast<const file_header*>(file.addr);
    if (h.byte_order != byte_order_mark)
        throw format_error(path + ": index written with another byte order (or corrupt header)");
    if (header_checksum(h) != h.header_checksum) corrupt(path, "header checksum mismatch");
    if (h.file_bytes != file.size)
        throw format_error(path + ": truncated index (" + std::to_string(file.size) + " bytes, header says " +
                           std::to_string(h.file_bytes) + ")");
    if (h.header_bytes != sizeof(file_header) || h.n_sections != section_count) corrupt(path, "unknown header layout");
    if (h.codec != codec_simdbp128 || h.posting_block != codec_block) corrupt(path, "unknown codec");
    return h;
}

void check_sections(const std::string& path, const file_header& h, const mapped_file& file, bool verify) {
    std::uint64_t end = sizeof(file_header);
    for (std::size_t s = 0; s < section_count; ++s) {
        const section_entry& e = h.sections[s];
        if (e.id != s + 1 || e.offset % section_alignment != 0 || e.offset < end || e.offset > h.file_bytes ||
            e.bytes > h.file_bytes - e.offset)
            corrupt(path, "section table");
        const auto* bytes = static_cast<const std::uint8_t*>(file.addr);
        for (std::uint64_t i = end; i < e.offset; ++i)  // alignment padding must be zero
            if (bytes[i] != 0) corrupt(path, "non-zero padding before section " + std::to_string(s + 1));
        end = e.offset + e.bytes;
        if (verify && xxhash64(bytes + e.offset, e.bytes) != e.checksum)
            corrupt(path, "checksum mismatch in section " + std::to_string(s + 1));
    }
    if (end != h.file_bytes) corrupt(path, "trailing bytes after the last section");
}

// Offsets that clustered search follows: every table the right size, offsets non-decreasing
// and ending at their section's size. Cluster doc indices and forward term ids are checked as
// they are read (query/clustered.hpp), summary cluster ids only ever compared.
template <class T>
bool offsets_ok(const array_view<T>& offsets, std::uint64_t count, std::uint64_t end) {
    if (offsets.size != count + 1 || offsets[0] != 0 || offsets[count] != end) return false;
    for (std::uint64_t i = 0; i < count; ++i)
        if (offsets[i + 1] < offsets[i]) return false;
    return true;
}

void check_clusters(const std::string& path, const inverted_index& index) {
    const cluster_sections& c = index.clusters();
    if (c.empty()) {
        if (c.forward.size || c.term_clusters.size || c.cluster_offsets.size || c.cluster_docs.size ||
            c.summary_offsets.size || c.summary_entries.size || c.summary_samples.size)
            corrupt(path, "clustered sections without a forward index");
        return;
    }
    if (index.impact_bytes() != 1 || index.vocab_size() > max_clustered_vocab || c.forward.size != index.n_postings() ||
        !offsets_ok(c.forward_offsets, index.n_docs(), c.forward.size))
        corrupt(path, "forward index");
    if (c.cluster_offsets.size == 0 || !offsets_ok(c.term_clusters, index.vocab_size(), c.n_clusters()) ||
        !offsets_ok(c.cluster_offsets, c.n_clusters(), c.cluster_docs.size))
        corrupt(path, "cluster tables");
    if (!offsets_ok(c.summary_offsets, index.vocab_size(), c.summary_entries.size))
        corrupt(path, "summary tables");
}

}  // namespace

void inverted_index::save(const std::string& path) const {
    const std::vector<section_info> infos = sections();
    const cluster_sections& c = clusters_;
    const void* data[section_count] = {terms_.data,           blocks_.data,          postings_.data,
                                       block_max_.data,       doc_id_offsets_.data,  doc_id_bytes_.data,
                                       doc_order_.data,       metadata_.data,        c.forward_offsets.data,
                                       c.forward.data,        c.term_clusters.data,  c.cluster_offsets.data,
                                       c.cluster_docs.data,   c.summary_offsets.data, c.summary_entries.data,
                                       c.summary_samples.data};
    file_header h;
    std::memset(&h, 0, sizeof(h));
    std::memcpy(h.magic, file_magic, sizeof(file_magic));
    h.version = format_version;
    h.byte_order = byte_order_mark;
    h.header_bytes = sizeof(file_header);
    h.n_sections = section_count;
    h.n_docs = n_docs_;
    h.vocab_size = vocab_size_;
    h.n_postings = n_postings_;
    h.n_dense_rows = n_dense_rows_;
    h.block_size = block_size_;
    h.posting_block = codec_block;
    h.impact_bytes = impact_bytes_;
    h.codec = codec_simdbp128;
    h.scale = scale_;
    h.order_kind = static_cast<std::uint32_t>(order_kind_);
    std::uint64_t offset = sizeof(file_header);
    for (std::size_t s = 0; s < section_count; ++s) {
        offset = align_up(offset);
        h.sections[s] = {static_cast<std::uint32_t>(s + 1), 0, offset, infos[s].bytes,
                         xxhash64(data[s], infos[s].bytes)};
        offset += infos[s].bytes;
    }
    h.file_bytes = offset;
    h.header_checksum = header_checksum(h);

    temp_file out(path);
    std::uint64_t at = 0;
    out.write(&h, sizeof(h));
    at = sizeof(h);
    for (std::size_t s = 0; s < section_count; ++s) {
        out.pad_to(h.sections[s].offset, at);
        if (infos[s].bytes) out.write(data[s], infos[s].bytes);
        at += infos[s].bytes;
    }
    out.commit();
}

std::uint64_t inverted_index::file_bytes() const {
    std::uint64_t offset = sizeof(file_header);
    for (const section_info& s : sections()) offset = align_up(offset) + s.bytes;
    return offset;
}

inverted_index inverted_index::load(const std::string& path, bool verify) {
    auto file = map_file(path);
    const file_header& h = check_header(path, *file);
    check_sections(path, h, *file, verify);
    if (h.n_docs > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()) ||
        h.vocab_size > std::numeric_limits<std::uint32_t>::max())
        corrupt(path, "counts out of range");
    if (h.block_size < 8 || h.block_size > 65536 || (h.block_size & (h.block_size - 1)) != 0)
        corrupt(path, "block size");
    if (h.impact_bytes != 1 && h.impact_bytes != 2) corrupt(path, "impact width");

    inverted_index index;
    index.n_docs_ = static_cast<std::uint32_t>(h.n_docs);
    index.vocab_size_ = static_cast<std::uint32_t>(h.vocab_size);
    index.n_postings_ = h.n_postings;
    index.block_size_ = h.block_size;
    index.impact_bytes_ = h.impact_bytes;
    index.scale_ = h.scale;
    index.n_dense_rows_ = h.n_dense_rows;
    index.set_derived();

    const auto* base = static_cast<const std::uint8_t*>(file->addr);
    auto section = [&](std::size_t s, std::size_t record) {
        if (h.sections[s].bytes % record != 0) corrupt(path, "section " + std::to_string(s + 1) + " size");
        return std::make_pair(base + h.sections[s].offset, h.sections[s].bytes / record);
    };
    auto [terms, n_terms] = section(0, sizeof(term_entry));
    auto [blocks, n_blocks] = section(1, sizeof(block_meta));
    auto [postings, n_postings_bytes] = section(2, 1);
    auto [block_max, n_block_max] = section(3, 1);
    auto [offsets, n_offsets] = section(4, sizeof(std::uint64_t));
    auto [ids, n_id_bytes] = section(5, 1);
    auto [order, n_order] = section(6, sizeof(doc_t));
    auto [metadata, n_metadata] = section(7, 1);
    cluster_sections& c = index.clusters_;
    auto view_of = [&](std::size_t s, auto& field) {
        using T = std::remove_const_t<std::remove_pointer_t<decltype(field.data)>>;
        const auto [bytes, n] = section(s, sizeof(T));
        field = {reinterpret_cast<const T*>(bytes), n};
    };
    view_of(8, c.forward_offsets);
    view_of(9, c.forward);
    view_of(10, c.term_clusters);
    view_of(11, c.cluster_offsets);
    view_of(12, c.cluster_docs);
    view_of(13, c.summary_offsets);
    view_of(14, c.summary_entries);
    view_of(15, c.summary_samples);
    if (n_terms != h.vocab_size) corrupt(path, "term table size");
    if (h.n_dense_rows > h.vocab_size || n_block_max != h.n_dense_rows * index.n_doc_blocks())
        corrupt(path, "block-max table size");
    if (n_offsets != h.n_docs + 1) corrupt(path, "doc id table size");
    if (h.order_kind > static_cast<std::uint32_t>(doc_order_kind::given) || h.reserved != 0 ||
        (h.order_kind == 0) != (n_order == 0) || (n_order != 0 && n_order != h.n_docs))
        corrupt(path, "doc order");
    index.order_kind_ = static_cast<doc_order_kind>(h.order_kind);
    index.terms_ = {reinterpret_cast<const term_entry*>(terms), n_terms};
    index.blocks_ = {reinterpret_cast<const block_meta*>(blocks), n_blocks};
    index.postings_ = {postings, n_postings_bytes};
    index.block_max_ = {block_max, n_block_max};
    index.doc_id_offsets_ = {reinterpret_cast<const std::uint64_t*>(offsets), n_offsets};
    index.doc_id_bytes_ = {ids, n_id_bytes};
    index.doc_order_ = {reinterpret_cast<const doc_t*>(order), n_order};
    index.metadata_ = {metadata, n_metadata};

    // Every offset and count that a cursor will follow, checked once here.
    const std::uint32_t impact_limit = index.impact_bytes_ == 1 ? 0xFFu : 0xFFFFu;
    auto block_offsets = std::make_shared<std::vector<std::uint32_t>>(n_blocks);
    std::uint64_t next_block = 0, next_byte = 0, postings_seen = 0;
    for (std::uint32_t t = 0; t < index.vocab_size_; ++t) {
        const term_entry& e = index.terms_[t];
        const std::uint64_t nb = blocks_for(e.df);
        if (e.first_block != next_block || nb > n_blocks - next_block || e.data_offset != next_byte ||
            e.data_bytes > n_postings_bytes - next_byte)
            corrupt(path, "term " + std::to_string(t) + " points outside its sections");
        if ((e.dense_row != no_row && e.dense_row >= h.n_dense_rows) || e.max_impact > impact_limit ||
            (e.df > 0 && e.max_impact == 0) || e.kth_impact[0] > e.max_impact || e.kth_impact[1] > e.kth_impact[0] ||
            e.kth_impact[2] > e.kth_impact[1])
            corrupt(path, "term " + std::to_string(t) + " header");
        std::uint64_t used = 0;
        std::int64_t prev = -1;
        for (std::uint64_t b = 0; b < nb; ++b) {
            const block_meta& m = index.blocks_[e.first_block + b];
            const std::uint32_t n = block_length(e.df, b);
            if (used > std::numeric_limits<std::uint32_t>::max() || m.doc_bits > 32 ||
                m.impact_bits > 8 * index.impact_bytes_ ||
                m.last_doc >= index.n_docs_ || static_cast<std::int64_t>(m.last_doc) - prev < n ||
                m.max_impact > e.max_impact)
                corrupt(path, "posting block " + std::to_string(b) + " of term " + std::to_string(t));
            (*block_offsets)[e.first_block + b] = static_cast<std::uint32_t>(used);
            used += block_bytes(n, m);
            prev = m.last_doc;
        }
        if (used != e.data_bytes) corrupt(path, "term " + std::to_string(t) + " block sizes");
        next_block += nb;
        next_byte += e.data_bytes;
        postings_seen += e.df;
    }
    if (next_block != n_blocks || next_byte != n_postings_bytes || postings_seen != h.n_postings)
        corrupt(path, "posting counts");
    const auto& off = index.doc_id_offsets_;
    if (off[0] != 0 || off[h.n_docs] != n_id_bytes) corrupt(path, "doc id offsets");
    for (std::uint64_t d = 0; d < h.n_docs; ++d)
        if (off[d + 1] < off[d]) corrupt(path, "doc id offsets");
    if (n_order) {  // results are rows: a permutation keeps them in range and unique
        std::vector<bool> seen(n_order, false);
        for (std::uint64_t i = 0; i < n_order; ++i) {
            const doc_t row = index.doc_order_[i];
            if (row >= n_order || seen[row]) corrupt(path, "doc order is not a permutation");
            seen[row] = true;
        }
    }

    check_clusters(path, index);
    if (!index.clusters_.empty()) {
        index.clusters_.sample_offsets = sample_offsets(index.clusters_.summary_offsets);
        if (index.clusters_.sample_offsets->back() != index.clusters_.summary_samples.size)
            corrupt(path, "summary samples");
    }
    index.block_offsets_ = std::move(block_offsets);
    index.storage_ = std::move(file);
    return index;
}

}  // namespace splade
