// `/metrics` in Prometheus' text format: requests by endpoint, responses by status class, and the
// scheduler's counters (tokens in and out, decode throughput, queue length, active slots).
import Foundation
import Synchronization

/// Request and response counters of the HTTP side.
final class ServerMetrics: Sendable {
    private struct Counts {
        var requests: [String: Int] = [:]
        var responses: [Int: Int] = [:]   // by status class: 2, 4, 5
    }
    private let counts = Mutex(Counts())
    /// When the server started (seconds since 1970).
    let started = Int(Date().timeIntervalSince1970)

    func count(_ endpoint: String) { counts.withLock { $0.requests[endpoint, default: 0] += 1 } }

    func response(status: Int) { counts.withLock { $0.responses[status / 100, default: 0] += 1 } }

    func prometheus(_ scheduler: BatchScheduler, slots: Int) -> String {
        let c = counts.withLock { $0 }, s = scheduler.stats
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples {
                let v = value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.6f", value)
                out += "\(name)\(labels) \(v)\n"
            }
        }
        metric("verba_requests_total", "counter", "Generation and embedding requests by endpoint.",
               ["chat", "completions", "embeddings"].map { ("{endpoint=\"\($0)\"}", Double(c.requests[$0] ?? 0)) })
        metric("verba_responses_total", "counter", "HTTP responses by status class.",
               [2, 4, 5].map { ("{code=\"\($0)xx\"}", Double(c.responses[$0] ?? 0)) })
        metric("verba_prompt_tokens_total", "counter", "Prompt tokens prefilled.", [("", Double(s.promptTokens))])
        metric("verba_generated_tokens_total", "counter", "Tokens generated.", [("", Double(s.generatedTokens))])
        metric("verba_decode_steps_total", "counter", "Batched decode steps.", [("", Double(s.decodeSteps))])
        metric("verba_decode_seconds_total", "counter", "Seconds spent in decode steps.", [("", s.decodeSeconds)])
        metric("verba_prefill_seconds_total", "counter", "Seconds spent in prefills.", [("", s.prefillSeconds)])
        metric("verba_decode_tokens_per_second", "gauge", "Generated tokens per second of model time (prefills and decode steps), since start.",
               [("", s.decodeSeconds > 0 ? Double(s.generatedTokens) / (s.decodeSeconds + s.prefillSeconds) : 0)])
        metric("verba_queue_length", "gauge", "Sequences waiting for a slot.", [("", Double(s.queued))])
        metric("verba_active_slots", "gauge", "Sequences being decoded.", [("", Double(s.active))])
        metric("verba_slots", "gauge", "Sequences decoded together at most (--parallel).", [("", Double(slots))])
        return out
    }
}
