// The core's own thread pool: the kernels' only source of parallelism.
//
// Why our own: numpy's BLAS and torch each keep a pool; nesting ours inside theirs (or OpenMP)
// would oversubscribe a 2-core machine. This pool is created lazily, sized from EIE_NUM_THREADS
// (default: std::thread::hardware_concurrency()), grows on request, and runs one job at a time.
// The calling thread always takes part, so threads=1 never touches a worker.
//
// When the helpers of a job were late (a worker preempted on a busy core held up the end of the
// job), the next jobs run on the calling thread alone for a while, backing off exponentially
// (thread_pool.cpp): the split of the work, so the result, stays the same.
//
// Workers spin briefly after a job (layer-by-layer inference issues jobs back to back) and then
// sleep on a condition variable, so an idle pool costs no CPU.
#pragma once
#include <cstdint>
#include <functional>

namespace eie::engine {

// Threads used when a call passes threads <= 0: EIE_NUM_THREADS if set (>= 1), else the
// hardware concurrency.
int default_threads();

// Runs fn(i) for i in [0, n) on at most max_threads threads (the caller included); returns when
// all calls have finished. fn must not call parallel_for recursively. If calls throw (a task's
// scratch allocation can: std::bad_alloc), the first exception is rethrown on the calling thread
// once the job is over (on the pool, the other tasks still run; on one thread, the loop stops);
// the pool stays usable.
void parallel_for(int64_t n, int max_threads, const std::function<void(int64_t)>& fn);

}  // namespace eie::engine
