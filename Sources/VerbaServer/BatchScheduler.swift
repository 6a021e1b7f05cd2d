// Continuous batching: one thread owns the model and runs every active sequence through one decode
// step at a time (`CausalLM.decodeStep`, which reads the weights once for all of them). Between steps,
// waiting requests are prefilled and join; finished or abandoned sequences leave and their KV-cache
// slot is reused at once. Requests beyond the slots wait in a bounded queue; past it, `submit` refuses.
import Foundation
import Synchronization
import VerbaModels
import VerbaTokenizers

/// Why the scheduler refused a request.
enum SchedulerError: Error, Equatable, CustomStringConvertible {
    /// The waiting queue is full.
    case queueFull(limit: Int)
    /// The scheduler is shutting down.
    case shuttingDown

    var description: String {
        switch self {
        case .queueFull(let limit): return "the server is busy: \(limit) requests are already waiting"
        case .shuttingDown: return "the server is shutting down"
        }
    }
}

/// Counters the scheduler keeps for `/metrics`.
struct SchedulerStats: Sendable, Equatable {
    var active = 0
    var queued = 0
    var promptTokens = 0
    var generatedTokens = 0
    var decodeSteps = 0
    /// Sequences × steps: generatedTokens / decodeSteps is the mean batch size.
    var decodeSeconds: Double = 0
    var prefillSeconds: Double = 0
}

/// Runs sequences of one model in batched decode steps on a thread of its own.
final class BatchScheduler: @unchecked Sendable {
    // @unchecked: `caches` and `active` are touched only by the scheduler's thread; everything else
    // shared is behind `state`.
    let generator: TextGenerator
    /// Sequences decoded together at most (KV-cache slots).
    let slots: Int
    /// Sequences that may wait for a slot.
    let queueLimit: Int

    private final class Job: Sendable {
        let request: SequenceRequest
        let continuation: AsyncStream<SequenceEvent>.Continuation
        let cancelled = Atomic<Bool>(false)
        init(_ request: SequenceRequest, _ continuation: AsyncStream<SequenceEvent>.Continuation) {
            self.request = request
            self.continuation = continuation
        }
    }

    private struct Active {
        let job: Job
        let cache: KVCache
        var decoding: SequenceDecoding
    }

    private struct State {
        var waiting: [Job] = []
        var stopping = false
        var finished = false
        var stats = SchedulerStats()
    }

    private let state = Mutex(State())
    private let wake = NSCondition()
    private var freeCaches: [KVCache] = []
    private var cachesMade = 0
    private var active: [Active] = []

    /// Starts the scheduler's thread.
    init(generator: TextGenerator, slots: Int, queueLimit: Int) {
        precondition(slots >= 1 && queueLimit >= 0, "BatchScheduler: slots must be positive")
        self.generator = generator
        self.slots = slots
        self.queueLimit = queueLimit
        let thread = Thread { [self] in loop() }
        thread.stackSize = 8 << 20
        thread.name = "verba-scheduler"
        thread.start()
    }

    /// Queues the sequences of one request (all or none: `SchedulerError.queueFull` when they do not
    /// fit in the free slots and the queue). Each stream reports its sequence; dropping or cancelling a
    /// stream's consumer abandons the sequence, which then leaves the batch before the next step.
    func submit(_ requests: [SequenceRequest]) throws -> [AsyncStream<SequenceEvent>] {
        var jobs: [Job] = []
        var streams: [AsyncStream<SequenceEvent>] = []
        for request in requests {
            precondition(!request.promptIds.isEmpty && request.maxTokens >= 1, "BatchScheduler: empty request")
            let (stream, continuation) = AsyncStream<SequenceEvent>.makeStream()
            let job = Job(request, continuation)
            continuation.onTermination = { [weak self] _ in
                job.cancelled.store(true, ordering: .relaxed)
                self?.signal()
            }
            jobs.append(job)
            streams.append(stream)
        }
        try state.withLock { s in
            if s.stopping { throw SchedulerError.shuttingDown }
            // Sequences beyond the free slots wait; the queue holds at most queueLimit of them.
            let free = max(0, slots - s.stats.active - s.waiting.count)
            if s.waiting.count + jobs.count - free > queueLimit { throw SchedulerError.queueFull(limit: queueLimit) }
            s.waiting += jobs
            s.stats.queued = s.waiting.count
        }
        signal()
        return streams
    }

    /// The counters now.
    var stats: SchedulerStats { state.withLock { $0.stats } }

    /// Refuses new requests, lets the running and waiting ones finish, and returns once the thread has
    /// stopped or `timeout` seconds have passed (then it abandons what is left).
    func shutdown(timeout: Double) {
        state.withLock { $0.stopping = true }
        signal()
        let deadline = Date().addingTimeInterval(timeout)
        while !state.withLock({ $0.finished }) {
            if Date() > deadline {
                let left = state.withLock { s in
                    let w = s.waiting
                    s.waiting.removeAll()
                    return w
                }
                for job in left { job.cancelled.store(true, ordering: .relaxed) }
                cancelActive.store(true, ordering: .relaxed)
                signal()
                while !state.withLock({ $0.finished }) { Thread.sleep(forTimeInterval: 0.01) }
                return
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    private let cancelActive = Atomic<Bool>(false)

    private func signal() {
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    // MARK: The scheduler's thread

    private func loop() {
        while true {
            // Wait for work; take as many waiting jobs as there are free slots.
            wake.lock()
            var taken: [Job] = []
            var done = false
            while true {
                let (jobs, stop) = state.withLock { s -> ([Job], Bool) in
                    let free = slots - active.count
                    let n = min(free, s.waiting.count)
                    let jobs = Array(s.waiting.prefix(n))
                    s.waiting.removeFirst(n)
                    s.stats.queued = s.waiting.count
                    return (jobs, s.stopping && s.waiting.isEmpty)
                }
                taken = jobs
                if !taken.isEmpty || !active.isEmpty { break }
                if stop { done = true; break }
                wake.wait()
            }
            wake.unlock()
            if done { break }
            if cancelActive.load(ordering: .relaxed) {
                for job in taken { job.continuation.finish() }
                taken.removeAll()
                for a in active { release(a) }
                active.removeAll()
                continue
            }
            for job in taken { admit(job) }
            active.removeAll { a in
                if a.job.cancelled.load(ordering: .relaxed) { release(a); return true }
                return false
            }
            state.withLock { $0.stats.active = active.count }
            if !active.isEmpty { step() }
        }
        state.withLock { $0.finished = true; $0.stats.active = 0 }
    }

    /// Prefills a job's prompt on a free cache and chooses its first token; the sequence joins the batch
    /// unless it already ended.
    private func admit(_ job: Job) {
        if job.cancelled.load(ordering: .relaxed) { job.continuation.finish(); return }
        let cache = takeCache()
        let request = job.request
        var decoding = SequenceDecoding(request: request, tokenizer: generator.tokenizer)
        let model = generator.model
        let t0 = DispatchTime.now().uptimeNanoseconds
        do {
            var logits: [Float]
            if request.promptLogprobs {
                // Every prompt position's logits: position p's row gives the log-probability of token p + 1.
                var entries: [TokenLogprob] = []
                var last: [Float] = []
                let ids = request.promptIds
                try model.forEachLogits(ids, cache: cache, from: 0, until: nil) { p, row in
                    if p + 1 < ids.count {
                        entries.append(LogSoftmax(Array(row)).entry(for: ids[p + 1], top: request.logprobs ?? 0))
                    } else {
                        last = Array(row)
                    }
                }
                job.continuation.yield(.prompt(entries))
                logits = last
            } else {
                logits = try model.logits(for: request.promptIds, cache: cache)
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            state.withLock { $0.stats.promptTokens += request.promptIds.count; $0.stats.prefillSeconds += seconds }
            let left = min(cache.capacity, model.contextLength) - cache.count
            let ended = decoding.advance(logits: &logits, positionsLeft: left, emit: { job.continuation.yield($0) }) != nil
            state.withLock { $0.stats.generatedTokens += decoding.generated }
            if ended {
                finishJob(job, cache: cache)
                return
            }
            active.append(Active(job: job, cache: cache, decoding: decoding))
        } catch {
            job.continuation.yield(.failed("\(error)"))
            job.continuation.finish()
            cache.reset()
            freeCaches.append(cache)
        }
    }

    /// One batched decode step of every active sequence.
    private func step() {
        let model = generator.model, v = model.vocabSize, b = active.count
        var rows = [Float](repeating: 0, count: b * v)
        let t0 = DispatchTime.now().uptimeNanoseconds
        do {
            try rows.withUnsafeMutableBufferPointer { r in
                try model.decodeStep(active.map(\.decoding.lastToken), caches: active.map(\.cache), logits: r.baseAddress!)
            }
        } catch {
            for a in active {
                a.job.continuation.yield(.failed("\(error)"))
                release(a)
            }
            active.removeAll()
            return
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        state.withLock { $0.stats.decodeSteps += 1; $0.stats.decodeSeconds += seconds }
        var still: [Active] = [], ended: [Active] = []
        var tokens = 0
        for (r, var a) in active.enumerated() {
            var logits = Array(rows[(r * v)..<((r + 1) * v)])
            let left = min(a.cache.capacity, model.contextLength) - a.cache.count
            let job = a.job, before = a.decoding.generated
            let done = a.decoding.advance(logits: &logits, positionsLeft: left, emit: { job.continuation.yield($0) }) != nil
            tokens += a.decoding.generated - before
            if done { ended.append(a) } else { still.append(a) }
        }
        active = still
        // The counters first, so that a client that sees its stream end also sees its tokens counted.
        state.withLock { $0.stats.generatedTokens += tokens; $0.stats.active = still.count }
        for a in ended { finishJob(a.job, cache: a.cache) }
    }

    private func finishJob(_ job: Job, cache: KVCache) {
        job.continuation.finish()
        cache.reset()
        freeCaches.append(cache)
    }

    private func release(_ a: Active) {
        a.job.continuation.finish()
        a.cache.reset()
        freeCaches.append(a.cache)
    }

    private func takeCache() -> KVCache {
        if let cache = freeCaches.popLast() { return cache }
        cachesMade += 1
        return generator.model.makeCache()
    }
}
