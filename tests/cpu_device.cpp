// The device under test of gpueval_tests: the CPU backend on one thread (the reference side runs
// two), host memory.
#include <cstring>
#include <vector>

#include "device_cases.hpp"

namespace gpueval::test {

namespace {

class CpuDevice final : public DeviceUnderTest {
public:
  Device device() const override { return Device::cpu(1); }
  bool available(std::string*) const override { return true; }
  std::shared_ptr<const unsigned char> copy(const void* host, std::size_t bytes,
                                            std::size_t offset) override {
    auto buffer = std::make_shared<std::vector<unsigned char>>(bytes + offset + 16);
    const std::size_t pad = (16 - reinterpret_cast<std::uintptr_t>(buffer->data()) % 16) % 16;
    unsigned char* p = buffer->data() + pad + offset;
    if (bytes > 0) {
      std::memcpy(p, host, bytes);
    }
    return std::shared_ptr<const unsigned char>(buffer, p);
  }
  void synchronize() override {}
};

} // namespace

DeviceUnderTest& device_under_test() {
  static CpuDevice device;
  return device;
}

} // namespace gpueval::test
