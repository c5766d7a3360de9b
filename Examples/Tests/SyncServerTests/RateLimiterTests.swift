import Testing
@testable import SyncServer

/// The rate limiter's token buckets, on an injected clock.
@Suite struct RateLimiterTests {
    static let start = ContinuousClock.now

    @Test(arguments: [(0.05, 20), (0.4, 3), (1e-6, 3600), (1e-18, 3600), (1e-300, 3600), (Double.leastNonzeroMagnitude, 3600)])
    func aSlowRateAnswersABoundedWait(_ perSecond: Double, _ wait: Int) {
        let limiter = RateLimiter(perSecond: perSecond)
        #expect(limiter.take(key: "k", now: Self.start) == nil)
        #expect(limiter.take(key: "k", now: Self.start) == wait)
        #expect(limiter.take(key: "k", now: Self.start) == wait)
    }

    @Test func refillsAtTheRateUpToABurstOfTheRate() {
        let limiter = RateLimiter(perSecond: 2)
        #expect(limiter.take(key: "k", now: Self.start) == nil)
        #expect(limiter.take(key: "k", now: Self.start) == nil)
        #expect(limiter.take(key: "k", now: Self.start) == 1)
        #expect(limiter.take(key: "other", now: Self.start) == nil)
        #expect(limiter.take(key: "k", now: Self.start + .milliseconds(500)) == nil)
        #expect(limiter.take(key: "k", now: Self.start + .milliseconds(500)) == 1)
        // An hour idle refills no more than the burst.
        for _ in 0..<2 { #expect(limiter.take(key: "k", now: Self.start + .seconds(3600)) == nil) }
        #expect(limiter.take(key: "k", now: Self.start + .seconds(3600)) == 1)
    }

    @Test(arguments: [
        ("t0ken", "10.0.0.1", "token t0ken"),
        ("t0ken", nil, "token t0ken"),
        ("", "10.0.0.1", "address 10.0.0.1"),  // no token configured: every caller is accepted with ""
        (nil, "10.0.0.1", "address 10.0.0.1"),  // a public route
        (nil, "::1", "address ::1"),
    ] as [(String?, String?, String)])
    func aRequestCountsAgainstItsTokenElseItsAddress(_ token: String?, _ address: String?, _ key: String) {
        #expect(RateLimitMiddleware.key(token: token, address: address) == key)
    }

    @Test func fullBucketsAreDroppedWhenTheyPileUp() {
        let limiter = RateLimiter(perSecond: 1)
        for index in 0..<10_000 { _ = limiter.take(key: "address 10.0.\(index / 256).\(index % 256)", now: Self.start) }
        #expect(limiter.bucketCount == 10_000)
        #expect(limiter.take(key: "busy", now: Self.start + .seconds(5)) == nil)
        #expect(limiter.bucketCount == 1)
        #expect(limiter.take(key: "busy", now: Self.start + .seconds(5)) == 1)  // the live bucket is kept
    }
}
