import Foundation
@testable import VerbaTensor
import XCTest

final class ThreadPoolTests: XCTestCase {
    func testEveryIndexRunsExactlyOnce() {
        let pool = ThreadPool(threads: 3)
        for count in [0, 1, 2, 3, 7, 100, 1000] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
            hits.initialize(repeating: 0, count: max(count, 1))
            pool.parallelFor(count: count) { i in hits[i] += 1 }
            for i in 0..<count { XCTAssertEqual(hits[i], 1, "count \(count) index \(i)") }
            hits.deallocate()
        }
    }

    func testNestedRegionsRunSerially() {
        let pool = ThreadPool(threads: 2)
        let total = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        total.initialize(repeating: 0, count: 64)
        pool.parallelFor(count: 8) { i in
            XCTAssertTrue(pool.isBusy)
            pool.parallelFor(count: 8) { j in total[i * 8 + j] += 1 }
        }
        XCTAssertFalse(pool.isBusy)
        XCTAssertEqual((0..<64).reduce(0) { $0 + total[$1] }, 64)
        total.deallocate()
    }

    func testChunksCoverTheRange() {
        let pool = ThreadPool(threads: 2)
        for (count, minimum) in [(1, 1), (10, 3), (1000, 64), (17, 100)] {
            let seen = UnsafeMutablePointer<Int>.allocate(capacity: count)
            seen.initialize(repeating: 0, count: count)
            pool.parallelChunks(count: count, minimumChunk: minimum) { range in for i in range { seen[i] += 1 } }
            XCTAssertTrue((0..<count).allSatisfy { seen[$0] == 1 })
            seen.deallocate()
        }
    }

    func testSetThreadsAndManyRegions() {
        let pool = ThreadPool(threads: 2)
        pool.setThreads(4)
        XCTAssertEqual(pool.threadCount, 4)
        var sums = [Int](repeating: 0, count: 4)
        sums.withUnsafeMutableBufferPointer { s in
            for _ in 0..<2000 { pool.parallelFor(count: 4) { i in s[i] += i } }
        }
        XCTAssertEqual(sums, [0, 2000, 4000, 6000])
        pool.setThreads(1)
        var serial = 0
        pool.parallelFor(count: 5) { serial += $0 }
        XCTAssertEqual(serial, 10)
        XCTAssertGreaterThanOrEqual(ThreadPool.availableCores(), 1)
    }

    func testPoolIsReleased() {
        weak var weakPool: ThreadPool?
        do {
            let pool = ThreadPool(threads: 3)
            pool.parallelFor(count: 3) { _ in }
            weakPool = pool
        }
        XCTAssertNil(weakPool, "workers must not keep the pool alive")
    }
}
