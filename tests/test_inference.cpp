// Production inference: after warm-up, predicting allocates nothing, starts no thread, and many
// threads can share one read-only model (each with its own scratch).
#include "deepjet_model.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <dirent.h>
#include <thread>

namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

// Count every allocation of the test program at the C allocator, which operator new, std::vector
// and xsimd's aligned allocator (posix_memalign) all end in: glibc lets a program interpose these.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void* malloc(std::size_t size) {
  ++allocations;
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) {
  ++allocations;
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) {
  ++allocations;
  return __libc_realloc(p, size);
}
int posix_memalign(void** p, std::size_t alignment, std::size_t size) {
  ++allocations;
  *p = __libc_memalign(alignment, size);
  return *p ? 0 : 12;  // ENOMEM
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  ++allocations;
  return __libc_memalign(alignment, size);
}
}

namespace {

using Net = deepjet::reference::DeepJet;

std::size_t thread_count() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

// Inputs for `count` jets in caller-owned buffers, one per block.
struct Jets {
  explicit Jets(std::size_t count) : count(count) {
    deepjet::Random random(5);
    for (auto* block : {&global, &cpf, &npf, &sv}) block->clear();
    global.resize(count * 15);
    cpf.resize(count * 25 * 16);
    npf.resize(count * 25 * 6);
    sv.resize(count * 4 * 12);
    for (auto* block : {&global, &cpf, &npf, &sv})
      for (float& v : *block) v = random.uniform(-1.0f, 1.0f);
  }
  deepjet::ConstBatch<Net::input_shape> view() const {
    return {{deepjet::ConstBatch<deepjet::Shape<15>>{global.data(), count},
             deepjet::ConstBatch<deepjet::Shape<25, 16>>{cpf.data(), count},
             deepjet::ConstBatch<deepjet::Shape<25, 6>>{npf.data(), count},
             deepjet::ConstBatch<deepjet::Shape<4, 12>>{sv.data(), count}},
            count};
  }
  std::size_t count;
  std::vector<float> global, cpf, npf, sv;
};

TEST(Inference, NoAllocationAndNoThreadAfterWarmUp) {
  const deepjet::Model<Net> model(1);
  for (std::size_t batch : {std::size_t{1}, std::size_t{32}}) {
    const Jets jets(batch);
    std::vector<float> out(batch * 6);
    deepjet::AlignedFloats scratch;
    const std::size_t at_start = allocations.load();
    model.predict(jets.view(), {out.data(), batch}, scratch);  // warm-up: sizes the scratch
    EXPECT_GT(allocations.load() - at_start, 0u) << "the counter sees the warm-up's allocation";
    const std::size_t threads_before = thread_count();
    const std::size_t before = allocations.load();
    for (int i = 0; i < 10; ++i) model.predict(jets.view(), {out.data(), batch}, scratch);
    EXPECT_EQ(allocations.load() - before, 0u) << "allocations per call at batch " << batch;
    EXPECT_EQ(thread_count(), threads_before) << "inference started a thread";
    for (float p : out) EXPECT_TRUE(std::isfinite(p));
  }
}

TEST(Inference, ThreadsShareOneModelAndAgree) {
  const deepjet::Model<Net> model(2);
  const Jets jets(16);
  std::vector<float> expected(16 * 6);
  deepjet::AlignedFloats scratch;
  model.predict(jets.view(), {expected.data(), 16}, scratch);
  std::vector<std::vector<float>> results(4, std::vector<float>(16 * 6));
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      deepjet::AlignedFloats own_scratch;  // per caller
      for (int i = 0; i < 20; ++i) model.predict(jets.view(), {results[t].data(), 16}, own_scratch);
    });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, expected);
}

}  // namespace
