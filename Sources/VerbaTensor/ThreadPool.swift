#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// The process-wide fork-join pool that every parallel kernel of Verba runs on.
///
/// The threading rule: **all parallelism is ours, OpenBLAS always runs single-threaded.** OpenBLAS is set to one
/// thread when it is loaded (see Sources/CBLAS), and `matmul` splits large products across the pool itself, each
/// part a single-threaded `cblas_sgemm` call. So two thread pools never compete for the cores, OpenBLAS workers
/// never spin next to ours, and BLAS called inside a parallel region simply runs on that thread.
///
/// `parallelFor` runs a body for indices 0..<count on `threadCount` threads (the caller is one of them); indices
/// are handed out dynamically, so uneven work balances. A call made while the pool is already busy (from inside a
/// parallel body, or from another thread at the same time) runs serially on its caller: nesting is safe, never a
/// deadlock. Workers spin briefly after a region (so the short back-to-back regions of a decode step cost
/// microseconds, not a sleep/wake each), yielding the core when others need it, then sleep on a condition variable.
///
/// ```swift
/// import VerbaTensor
/// // Leave two cores to the rest of the program (the CLI's `--threads`).
/// ThreadPool.shared.setThreads(max(1, ThreadPool.availableCores() - 2))
/// print("running on \(ThreadPool.shared.threadCount) threads")
/// ```
/// Sendable: `threadCount` is atomic; `workers` changes only in `setThreads`, which holds both the
/// `configuration` lock and `core.busy`, and `parallelFor` reads it only after taking `core.busy`.
public final class ThreadPool: @unchecked Sendable {
    /// The pool every kernel uses, sized to the cores available to the process (`VERBA_THREADS` overrides).
    public static let shared = ThreadPool(threads: ThreadPool.defaultThreadCount())

    /// The number of cores this process may run on (Foundation's count honors the affinity mask and cgroup quota), at least 1.
    public static func availableCores() -> Int {
        max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    private static func defaultThreadCount() -> Int {
        if let text = getenv("VERBA_THREADS"), let n = Int(String(cString: text)), n > 0 { return n }
        return availableCores()
    }

    private let core: Core
    /// The worker threads: changed only by `setThreads` while it holds `core.busy`, and read by
    /// `parallelFor` only after taking `core.busy`.
    private var workers: [pthread_t] = []
    private let configuration = Mutex<Void>(())
    private let threads: Atomic<Int>

    /// Threads that run a parallel region, the caller included.
    public var threadCount: Int { threads.load(ordering: .relaxed) }

    /// How long an idle worker spins, in microseconds, before it sleeps until the next region.
    package var spinMicroseconds: Int {
        get { core.spinMicroseconds.load(ordering: .relaxed) }
        set { core.spinMicroseconds.store(max(0, newValue), ordering: .relaxed) }
    }

    /// A pool running regions on `threads` threads (the caller plus `threads - 1` workers).
    package init(threads: Int) {
        precondition(threads >= 1, "ThreadPool: need at least one thread")
        self.threads = Atomic(threads)
        core = Core()
        startWorkers(threads - 1)
    }

    deinit { stopWorkers() }

    /// Changes the number of threads (the CLI's `--threads`). Waits for a running region to finish first;
    /// must not be called from inside a parallel body.
    public func setThreads(_ n: Int) {
        precondition(n >= 1, "ThreadPool: need at least one thread")
        configuration.withLock { _ in
            guard n != threadCount else { return }
            while !core.busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { sched_yield() }
            stopWorkers()
            threads.store(n, ordering: .relaxed)
            startWorkers(n - 1)
            core.busy.store(false, ordering: .releasing)
        }
    }

    /// Whether a parallel region is running right now (nested calls run serially).
    package var isBusy: Bool { core.busy.load(ordering: .relaxed) }

    /// Runs `body(i)` for every i in 0..<count, spread over the pool; returns when all are done.
    /// Indices are claimed one at a time, so give each a reasonable amount of work (a block of rows, not one float).
    package func parallelFor(count: Int, body: (Int) -> Void) {
        if count <= 0 { return }
        if count == 1 || !core.busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            for i in 0..<count { body(i) }
            return
        }
        defer { core.busy.store(false, ordering: .releasing) }
        let workerCount = workers.count  // stable while this call holds `busy`
        if workerCount == 0 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in core.run(count: count, workers: workerCount, body: body) }
    }

    /// Splits 0..<count into contiguous chunks of at least `minimumChunk` (a few per thread, for balance) and runs
    /// `body` on each chunk in parallel.
    package func parallelChunks(count: Int, minimumChunk: Int = 1, body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let pieces = max(1, min(threadCount * 4, count / max(1, minimumChunk)))
        if pieces == 1 || threadCount == 1 { body(0..<count); return }
        parallelFor(count: pieces) { p in
            body((p * count / pieces)..<((p + 1) * count / pieces))
        }
    }

    private func startWorkers(_ n: Int) {
        core.stopping.store(false, ordering: .relaxed)
        let startGeneration = core.generation.load(ordering: .acquiring)
        workers = []
        for _ in 0..<n {
            let start = Unmanaged.passRetained(Start(core, startGeneration)).toOpaque()
            #if os(Linux)
            var thread = pthread_t()
            #else
            var thread: pthread_t?
            #endif
            let rc = pthread_create(&thread, nil, { arg in
                let start = Unmanaged<Start>.fromOpaque(arg!).takeRetainedValue()
                start.core.workerLoop(from: start.generation)
                return nil
            }, start)
            precondition(rc == 0, "ThreadPool: pthread_create failed (\(rc))")
            #if os(Linux)
            workers.append(thread)
            #else
            workers.append(thread!)
            #endif
        }
    }

    private func stopWorkers() {
        core.stop()
        for t in workers { pthread_join(t, nil) }
        workers = []
    }

    private final class Start {
        let core: Core
        let generation: Int
        init(_ core: Core, _ generation: Int) { self.core = core; self.generation = generation }
    }

    /// The state the workers share with the caller; the workers hold it, not the pool, so a pool can go away.
    /// Sendable: the shared counters and flags are `Atomic`s; the plain vars `jobBody` and `jobCount` are
    /// written only by the one thread in `run` (the holder of the pool's `busy` flag), published to the
    /// workers by the releasing `generation.add` they acquire-load, and cleared only after an acquiring load
    /// sees `unfinished` at 0 (each worker's releasing subtract follows its last read of them); `mutex` and
    /// `wake` are set in init and guard the sleep/wake handshake.
    private final class Core: @unchecked Sendable {
        // A region is published by bumping `generation` (release); workers read the job after seeing it (acquire).
        let generation = Atomic<Int>(0)
        let nextIndex = Atomic<Int>(0)
        let unfinished = Atomic<Int>(0)
        let busy = Atomic<Bool>(false)
        let stopping = Atomic<Bool>(false)
        let spinMicroseconds = Atomic<Int>(500)
        var jobCount = 0
        var jobBody: ((Int) -> Void)?
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

        init() {
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(wake, nil)
        }

        deinit {
            pthread_cond_destroy(wake)
            pthread_mutex_destroy(mutex)
            mutex.deallocate()
            wake.deallocate()
        }

        func run(count: Int, workers: Int, body: @escaping (Int) -> Void) {
            // Every worker takes part in every region (those that find no index left just report back), so no
            // worker can miss a generation, and the job fields stay untouched until all have finished reading them.
            jobBody = body
            jobCount = count
            nextIndex.store(0, ordering: .relaxed)
            unfinished.store(workers, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
            runIndices(body, count)
            // Wait for the workers: spin briefly, then yield the core (a worker may be waiting for one).
            var spins = 0
            while unfinished.load(ordering: .acquiring) != 0 {
                spins += 1
                if spins > 4096 { sched_yield() } else { spinPause() }
            }
            jobBody = nil
        }

        @inline(__always) func runIndices(_ body: (Int) -> Void, _ count: Int) {
            while true {
                let i = nextIndex.add(1, ordering: .relaxed).oldValue
                if i >= count { break }
                body(i)
            }
        }

        func stop() {
            pthread_mutex_lock(mutex)
            stopping.store(true, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
        }

        func workerLoop(from startGeneration: Int) {
            var seen = startGeneration
            while true {
                var spins = 0
                var current = generation.load(ordering: .acquiring)
                let deadline = monotonicNanoseconds() + UInt64(spinMicroseconds.load(ordering: .relaxed)) * 1000
                while current == seen {
                    spins += 1
                    if spins > 4096 { sched_yield() } else { spinPause() }
                    if spins & 255 == 0 && monotonicNanoseconds() > deadline {
                        pthread_mutex_lock(mutex)
                        while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(wake, mutex) }
                        pthread_mutex_unlock(mutex)
                    }
                    current = generation.load(ordering: .acquiring)
                }
                seen = current
                if stopping.load(ordering: .relaxed) { return }
                if let body = jobBody { runIndices(body, jobCount) }
                unfinished.subtract(1, ordering: .releasing)
            }
        }
    }
}

@inline(__always) private func monotonicNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

/// A short wait in spin loops. Swift has no PAUSE intrinsic; a relaxed atomic load keeps the loop from being
/// optimized away at similar cost.
@inline(__always) private func spinPause() {
    _ = pauseCounter.load(ordering: .relaxed)
}

private let pauseCounter = Atomic<Int>(0)
