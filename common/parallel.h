// A minimal parallel loop: tasks shared by a few threads, errors replayed on the caller.
#pragma once

#include <algorithm>
#include <atomic>
#include <csignal>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <pthread.h>

namespace pgmosaic
{

// A thread started with every signal blocked: the process's handlers (in a PostgreSQL backend:
// statement timeout, cancel, latch wake-ups) run on the threads that own them, never on an
// engine thread beside code that is not written for it.
template <typename... A> std::thread QuietThread(A&&... args)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    try
    {
        std::thread t(std::forward<A>(args)...);
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        return t;
    }
    catch (...)
    {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw;
    }
}

// Runs fn(task, thread) for every task on up to `threads` threads (thread 0 is the caller's);
// the first exception thrown by any task is rethrown on the caller once all threads stopped.
template <typename Fn> void ParallelFor(size_t tasks, int threads, Fn&& fn)
{
    const int n = static_cast<int>(std::min<size_t>(tasks, std::max(1, threads)));
    if (n <= 1)
    {
        for (size_t i = 0; i < tasks; ++i)
            fn(i, 0);
        return;
    }
    std::atomic<size_t> next{0};
    std::exception_ptr failure;
    std::mutex failureMutex;
    auto worker = [&](int thread) {
        for (size_t i = next++; i < tasks; i = next++)
        {
            try
            {
                fn(i, thread);
            }
            catch (...)
            {
                std::lock_guard<std::mutex> lock(failureMutex);
                if (!failure)
                    failure = std::current_exception();
                next = tasks;
            }
        }
    };
    std::vector<std::thread> pool;
    try
    {
        for (int t = 1; t < n; ++t)
            pool.push_back(QuietThread(worker, t));
    }
    catch (...)
    {
        // A thread that cannot start: the others stop after their task, are joined (a
        // joinable std::thread destroyed calls std::terminate), and the failure goes up.
        next = tasks;
        for (auto& t : pool)
            t.join();
        throw;
    }
    worker(0);
    for (auto& t : pool)
        t.join();
    if (failure)
        std::rethrow_exception(failure);
}

// Runs fn(task, thread) with task i on thread i % threads: a task always lands on the same
// thread, so per-thread state (e.g. open datasets) opened by one pass serves the next.
template <typename Fn> void ParallelForStatic(size_t tasks, int threads, Fn&& fn)
{
    const int n = std::max(1, threads);
    ParallelFor(static_cast<size_t>(n), n, [&](size_t thread, int) {
        for (size_t i = thread; i < tasks; i += static_cast<size_t>(n))
            fn(i, static_cast<int>(thread));
    });
}

} // namespace pgmosaic
