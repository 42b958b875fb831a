// Byte sources: files read with pread or mapped, and memory.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/mapping_guard.hpp"
#include "io/shard_reader.hpp"

namespace gpueval::io {

namespace {

void check_range(const std::string& name, std::uint64_t size, std::uint64_t offset,
                 std::uint64_t n) {
  if (offset > size || n > size - offset) {
    throw ReadError(name + ": read of " + std::to_string(n) + " bytes at offset " +
                    std::to_string(offset) + " is past the end of the file (" +
                    std::to_string(size) + " bytes)");
  }
}

class FileSource final : public ByteSource {
public:
  explicit FileSource(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      throw ReadError(path_ + ": cannot open: " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int err = errno;
      ::close(fd_);
      throw ReadError(path_ + ": cannot stat: " + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw ReadError(path_ + ": not a regular file");
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~FileSource() override { ::close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  std::uint64_t size() const override { return size_; }
  const std::string& name() const override { return path_; }

  void read_at(std::uint64_t offset, std::uint64_t n, void* dst) const override {
    check_range(path_, size_, offset, n);
    auto* out = static_cast<unsigned char*>(dst);
    while (n > 0) {
      const ssize_t got = ::pread(fd_, out, n, static_cast<off_t>(offset));
      if (got < 0) {
        if (errno == EINTR) {
          continue;
        }
        throw ReadError(path_ + ": read failed: " + std::strerror(errno));
      }
      if (got == 0) {
        throw ReadError(path_ + ": file ended early (was it truncated while being read?)");
      }
      out += got;
      offset += static_cast<std::uint64_t>(got);
      n -= static_cast<std::uint64_t>(got);
    }
  }

  // A read-only shared mapping, populated at once (MAP_POPULATE: the page tables are filled
  // here, on the reader's thread, not by faults in the fold), guarded against the file
  // shrinking under it (mapping_guard.hpp: Mapped::lost() says). Failure to map or to guard is
  // not an error: the caller reads instead.
  Mapped map(std::uint64_t offset, std::uint64_t n) const override {
    check_range(path_, size_, offset, n);
    if (n == 0) {
      return {};
    }
    static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const std::uint64_t start = offset - offset % page;
    const auto length = static_cast<std::size_t>(offset + n - start);
    void* p = ::mmap(nullptr, length, PROT_READ, MAP_SHARED | MAP_POPULATE, fd_,
                     static_cast<off_t>(start));
    if (p == MAP_FAILED) {
      return {};
    }
    const int slot = guard_mapping(p, length);
    if (slot < 0) {
      ::munmap(p, length);
      return {};
    }
    Mapped m;
    m.data = static_cast<const unsigned char*>(p) + (offset - start);
    m.guard = slot;
    m.hold = std::shared_ptr<const void>(p, [length, slot](const void* q) {
      release_mapping(slot);
      ::munmap(const_cast<void*>(q), length);
    });
    return m;
  }

private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

class MemorySource final : public ByteSource {
public:
  MemorySource(const std::uint8_t* data, std::size_t size, std::string name)
      : data_(data), size_(size), name_(std::move(name)) {}
  std::uint64_t size() const override { return size_; }
  const std::string& name() const override { return name_; }
  void read_at(std::uint64_t offset, std::uint64_t n, void* dst) const override {
    if (offset > size_ || n > size_ - offset) {
      throw ReadError(name_ + ": read of " + std::to_string(n) + " bytes at offset " +
                      std::to_string(offset) + " is past the end (" + std::to_string(size_) +
                      " bytes)");
    }
    if (n > 0) {
      std::memcpy(dst, data_ + offset, n);
    }
  }

private:
  const std::uint8_t* data_;
  std::uint64_t size_;
  std::string name_;
};

} // namespace

std::unique_ptr<ByteSource> open_file(const std::string& path) {
  return std::make_unique<FileSource>(path);
}

std::unique_ptr<ByteSource> memory_source(const std::uint8_t* data, std::size_t size,
                                          std::string name) {
  return std::make_unique<MemorySource>(data, size, std::move(name));
}

} // namespace gpueval::io
