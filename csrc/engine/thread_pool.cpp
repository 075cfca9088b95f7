#include "engine/thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define EIE_PAUSE() _mm_pause()
#else
#define EIE_PAUSE() ((void)0)
#endif

namespace eie::engine {
namespace {

// Pauses a worker spins for the next job before sleeping (~50-100 us): long enough to catch the
// next layer of a layer-by-layer run, short enough not to steal a shared core from other work.
constexpr int kSpinPauses = 2000;

// Back-off when helpers are late: a job after which the calling thread waited for the helpers'
// last tasks longer than a quarter of its own working time plus kLateNs (a helper whose core is
// busy claimed a task and was preempted) makes the next jobs run on the calling thread alone for
// 1 ms << level (level up to kMaxBackoffLevel, one step up per late job, one down per timely
// one). A 2-thread call on a machine whose other core is busy then costs about what a 1-thread
// call does instead of waiting for a descheduled thread; the work split (so the result) does not
// change, only who runs it.
constexpr int64_t kLateNs = 20000;
constexpr int kMaxBackoffLevel = 7;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A job's tasks are claimed through one 64-bit word: (generation << 32) | tasks left. A claim
// takes task `left - 1`; a worker that wakes up late can never claim a task of a job that has
// already been replaced (the generation differs) and never reads another job's fields, because
// fn_ is only read after a successful claim, while the job cannot have finished.
class Pool {
 public:
  void ensure_workers(int total_threads) {
    std::lock_guard<std::mutex> lk(m_);
    while (static_cast<int>(workers_.size()) + 1 < total_threads)
      workers_.emplace_back([this] { worker_loop(); });
  }

  void run(int64_t n, int nthreads, const std::function<void(int64_t)>& fn) {
    std::lock_guard<std::mutex> job_lock(job_m_);  // one job at a time
    ensure_workers(nthreads);
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      done_.store(0, std::memory_order_relaxed);
      helpers_.store(nthreads - 1, std::memory_order_relaxed);
      gen_ = (gen_ + 1) & 0x7fffffff;
      next_.store((static_cast<uint64_t>(gen_) << 32) | static_cast<uint64_t>(n),
                  std::memory_order_release);
      gen_seen_.store(gen_, std::memory_order_release);
    }
    cv_.notify_all();
    const int64_t t0 = now_ns();
    work(gen_);
    const int64_t t1 = now_ns();
    // Wait for tasks still running on workers.
    int spins = 0;
    while (done_.load(std::memory_order_acquire) < n) {
      if (++spins < 4096) EIE_PAUSE(); else std::this_thread::yield();
    }
    const int64_t t2 = now_ns();
    int level = backoff_level_.load(std::memory_order_relaxed);
    if (t2 - t1 > (t1 - t0) / 4 + kLateNs) {
      level = std::min(level + 1, kMaxBackoffLevel);
      backoff_until_.store(t2 + (int64_t{1000000} << level), std::memory_order_relaxed);
    } else if (level > 0) {
      --level;
    }
    backoff_level_.store(level, std::memory_order_relaxed);
    std::exception_ptr err;
    {
      std::lock_guard<std::mutex> lk(err_m_);
      err.swap(err_);
    }
    if (err) std::rethrow_exception(err);
  }

 private:
  void work(uint32_t gen) {
    const uint64_t tag = static_cast<uint64_t>(gen) << 32;
    for (;;) {
      uint64_t v = next_.load(std::memory_order_acquire);
      for (;;) {
        if ((v & ~0xffffffffull) != tag || (v & 0xffffffffull) == 0) return;
        if (next_.compare_exchange_weak(v, v - 1, std::memory_order_acq_rel)) break;
      }
      try {
        (*fn_)(static_cast<int64_t>(v & 0xffffffffull) - 1);
      } catch (...) {  // kept for the caller: an exception must not leave a worker thread
        std::lock_guard<std::mutex> lk(err_m_);
        if (!err_) err_ = std::current_exception();
      }
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void worker_loop() {
    uint32_t seen = gen_seen_.load(std::memory_order_acquire);
    for (;;) {
      uint32_t g = gen_seen_.load(std::memory_order_acquire);
      for (int spins = 0; g == seen && spins < kSpinPauses; ++spins) {
        EIE_PAUSE();
        g = gen_seen_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return gen_seen_.load(std::memory_order_acquire) != seen; });
        g = gen_seen_.load(std::memory_order_acquire);
      }
      seen = g;
      // Only nthreads - 1 workers join a job (the threads= limit).
      if (helpers_.fetch_sub(1, std::memory_order_acq_rel) > 0) work(g);
    }
  }

  std::mutex job_m_, m_, err_m_;
  std::exception_ptr err_;  // the job's first exception (guarded by err_m_)
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  uint32_t gen_ = 0;
  std::atomic<uint32_t> gen_seen_{0};
  std::atomic<uint64_t> next_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int> helpers_{0};

 public:
  // Until when (now_ns) jobs run on the calling thread alone, and the current back-off step.
  std::atomic<int64_t> backoff_until_{0};
  std::atomic<int> backoff_level_{0};
};

Pool* g_pool = nullptr;
std::once_flag g_atfork_once;

// After fork() the child has no workers: forget the parent's pool (leaked on purpose; its
// threads do not exist in the child) and build a fresh one on first use.
void reset_after_fork() { g_pool = nullptr; }

Pool& pool() {
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, reset_after_fork); });
  static std::mutex create_m;
  std::lock_guard<std::mutex> lk(create_m);
  if (g_pool == nullptr) g_pool = new Pool();  // never destroyed: no join at interpreter exit
  return *g_pool;
}

}  // namespace

int default_threads() {
  if (const char* env = std::getenv("EIE_NUM_THREADS")) {
    const int v = std::atoi(env);
    if (v >= 1) return std::min(v, 256);
  }
  // hardware_concurrency() is a system call on Linux: ask once.
  static const int hc = [] {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(std::min(n, 256u));
  }();
  return hc;
}

void parallel_for(int64_t n, int max_threads, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  const int nt = static_cast<int>(std::min<int64_t>(std::max(max_threads, 1), n));
  Pool* p = nt <= 1 ? nullptr : &pool();
  if (p == nullptr || now_ns() < p->backoff_until_.load(std::memory_order_relaxed)) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  p->run(n, nt, fn);
}

}  // namespace eie::engine
