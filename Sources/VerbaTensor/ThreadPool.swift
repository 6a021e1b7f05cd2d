import CBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// The process-wide fork-join pool that every parallel kernel of Verba runs on.
///
/// The threading rule: **all parallelism is ours, OpenBLAS always runs single-threaded.** The pool calls
/// `openblas_set_num_threads(1)` when it is created, and `matmul` splits large products across the pool itself,
/// each part a single-threaded `cblas_sgemm` call. So two thread pools never compete for the cores, OpenBLAS
/// workers never spin next to ours, and BLAS called inside a parallel region simply runs on that thread.
///
/// `parallelFor` runs a body for indices 0..<count on `threadCount` threads (the caller is one of them); indices
/// are handed out dynamically, so uneven work balances. A call made while the pool is already busy (from inside a
/// parallel body, or from another thread at the same time) runs serially on its caller: nesting is safe, never a
/// deadlock. Workers spin briefly after a job (so the short back-to-back regions of a decode step cost
/// microseconds, not a sleep/wake each) and then sleep on a condition variable.
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

    // Job state, published by bumping `generation` (release) and read by workers after they see it (acquire).
    private let generation = Atomic<Int>(0)
    private let nextIndex = Atomic<Int>(0)
    private let unfinished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private var jobCount = 0
    private var jobBody: ((Int) -> Void)?
    private let stopping = Atomic<Bool>(false)

    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var workers: [pthread_t] = []
    private var startGeneration = 0

    /// Threads that run a parallel region, the caller included.
    public private(set) var threadCount: Int

    /// How long an idle worker spins, in microseconds, before it sleeps until the next region.
    public var spinMicroseconds = 500

    /// A pool running regions on `threads` threads (the caller plus `threads - 1` workers).
    public init(threads: Int) {
        precondition(threads >= 1, "ThreadPool: need at least one thread")
        threadCount = threads
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        openblas_set_num_threads(1)
        startWorkers(threads - 1)
    }

    deinit {
        stopWorkers()
        pthread_cond_destroy(&wake)
        pthread_mutex_destroy(&mutex)
    }

    /// Changes the number of threads (the CLI's `--threads`). Must not be called from inside a parallel region.
    public func setThreads(_ n: Int) {
        precondition(n >= 1, "ThreadPool: need at least one thread")
        guard n != threadCount else { return }
        while !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { sched_yield() }
        stopWorkers()
        threadCount = n
        startWorkers(n - 1)
        busy.store(false, ordering: .releasing)
    }

    /// Whether a parallel region is running right now (nested calls run serially).
    public var isBusy: Bool { busy.load(ordering: .relaxed) }

    /// Runs `body(i)` for every i in 0..<count, spread over the pool; returns when all are done.
    /// Indices are claimed one at a time, so give each a reasonable amount of work (a block of rows, not one float).
    public func parallelFor(count: Int, body: (Int) -> Void) {
        if count <= 0 { return }
        if count == 1 || threadCount == 1
            || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            for i in 0..<count { body(i) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            // Every worker takes part in every region (those that find no index left just report back), so no
            // worker can miss a generation and the job fields stay untouched until all have finished reading them.
            jobBody = body
            jobCount = count
            nextIndex.store(0, ordering: .relaxed)
            unfinished.store(workers.count, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            pthread_mutex_lock(&mutex)
            pthread_cond_broadcast(&wake)
            pthread_mutex_unlock(&mutex)
            runIndices(body, count)
            var spins = 0
            while unfinished.load(ordering: .acquiring) != 0 {
                spins += 1
                if spins > 1_000_000 { sched_yield() } else { spinPause() }
            }
            jobBody = nil
        }
    }

    /// Splits 0..<count into contiguous chunks of at least `minimumChunk` (a few per thread for balance) and runs
    /// `body` on each chunk in parallel.
    public func parallelChunks(count: Int, minimumChunk: Int = 1, body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let pieces = max(1, min(threadCount * 4, count / max(1, minimumChunk)))
        if pieces == 1 || threadCount == 1 { body(0..<count); return }
        parallelFor(count: pieces) { p in
            body((p * count / pieces)..<((p + 1) * count / pieces))
        }
    }

    // MARK: Workers

    @inline(__always) private func runIndices(_ body: (Int) -> Void, _ count: Int) {
        while true {
            let i = nextIndex.add(1, ordering: .relaxed).oldValue
            if i >= count { break }
            body(i)
        }
    }

    private final class Start {
        let pool: ThreadPool
        let index: Int
        init(_ pool: ThreadPool, _ index: Int) { self.pool = pool; self.index = index }
    }

    private func startWorkers(_ n: Int) {
        stopping.store(false, ordering: .relaxed)
        startGeneration = generation.load(ordering: .acquiring)
        workers = []
        for w in 0..<n {
            let start = Unmanaged.passRetained(Start(self, w)).toOpaque()
            #if os(Linux)
            var thread = pthread_t()
            #else
            var thread: pthread_t?
            #endif
            let rc = pthread_create(&thread, nil, { arg in
                let start = Unmanaged<Start>.fromOpaque(arg!).takeRetainedValue()
                start.pool.workerLoop(start.index)
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
        pthread_mutex_lock(&mutex)
        stopping.store(true, ordering: .relaxed)
        generation.add(1, ordering: .releasing)
        pthread_cond_broadcast(&wake)
        pthread_mutex_unlock(&mutex)
        for t in workers { pthread_join(t, nil) }
        workers = []
    }

    private func workerLoop(_ w: Int) {
        var seen = startGeneration
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            let deadline = monotonicNanoseconds() + UInt64(max(0, spinMicroseconds)) * 1000
            while current == seen {
                spins += 1
                spinPause()
                if spins & 255 == 0 && monotonicNanoseconds() > deadline {
                    pthread_mutex_lock(&mutex)
                    while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(&wake, &mutex) }
                    pthread_mutex_unlock(&mutex)
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

@inline(__always) private func monotonicNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

/// A CPU pause hint for spin loops.
@inline(__always) private func spinPause() {
    #if arch(x86_64) || arch(i386)
    _mm_pause_shim()
    #else
    sched_yield()
    #endif
}

#if arch(x86_64) || arch(i386)
@inline(__always) private func _mm_pause_shim() {
    // `rep; nop` is the PAUSE instruction; without inline assembly in Swift, a relaxed atomic load keeps the
    // loop from being optimized away and costs about as little.
    _ = pauseCounter.load(ordering: .relaxed)
}
private let pauseCounter = Atomic<Int>(0)
#endif
