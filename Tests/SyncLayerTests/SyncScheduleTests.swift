import Foundation
import Testing
@testable import SyncLayer

@Suite struct SyncScheduleTests {
    func schedule(autoSync: Bool = true) -> SyncSchedule {
        SyncSchedule(autoSync: autoSync, interval: .seconds(300), debounce: .milliseconds(50),
                     backoff: Backoff(initial: .seconds(1), maximum: .seconds(60)))
    }

    @Test func syncsAtStartAfterADebouncedWriteAndEveryInterval() {
        var s = schedule()
        s.handle(.started, now: 0)
        #expect(s.nextAction(now: 0) == .sync)
        s.handle(.runStarted, now: 0)
        #expect(s.nextAction(now: 10) == .sleep(until: nil))  // one run at a time
        s.handle(.localWrite, now: 20)                        // during the run
        s.handle(.succeeded, now: 30)
        #expect(s.nextAction(now: 30) == .sleep(until: 70))   // the write's debounce, before the interval
        #expect(s.nextAction(now: 70) == .sync)
        s.handle(.runStarted, now: 70)
        s.handle(.succeeded, now: 80)
        #expect(s.nextAction(now: 80) == .sleep(until: 300_080))
    }

    /// Found by sync-torture's contract check under load: a request left 999.x ms after a
    /// `Retry-After: 1` answer, because the clock rounds down to whole milliseconds.
    @Test func retryAfterIsNeverCutShortByMillisecondRounding() {
        var s = schedule(autoSync: false)
        s.handle(.started, now: 0)
        s.handle(.requested, now: 0)
        s.handle(.runStarted, now: 0)
        // The answer arrived at 100.9 ms; the engine's clock says 100.
        s.handle(.failed(retryAfter: .seconds(1), jitter: 0), now: 100)
        s.handle(.requested, now: 100)
        #expect(s.nextAction(now: 1_100) != .sync)  // only 999.1 ms after the answer
        #expect(s.nextAction(now: 1_101) == .sync)
    }

    @Test func withoutAutoSyncOnlyRequestsRun() {
        var s = schedule(autoSync: false)
        s.handle(.started, now: 0)
        s.handle(.localWrite, now: 1)
        #expect(s.nextAction(now: 100) == .sleep(until: nil))
        s.handle(.requested, now: 100)
        #expect(s.nextAction(now: 100) == .sync)
        s.handle(.runStarted, now: 100)
        s.handle(.failed(retryAfter: nil, jitter: 1), now: 110)
        #expect(s.nextAction(now: 200) == .sleep(until: nil))  // no automatic retry
    }

    @Test func failuresBackOffExponentiallyWithJitterUpToTheCap() {
        var s = schedule()
        s.handle(.started, now: 0)
        var now: Int64 = 0
        var waits: [Int64] = []
        for _ in 0..<10 {
            s.handle(.runStarted, now: now)
            s.handle(.failed(retryAfter: nil, jitter: 1), now: now)
            guard case .sleep(let until?) = s.nextAction(now: now) else { Issue.record("no retry scheduled"); return }
            waits.append(until - now)
            now = until
        }
        #expect(waits == [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000])
        s.handle(.runStarted, now: now)
        s.handle(.failed(retryAfter: nil, jitter: 0.25), now: now)
        #expect(s.nextAction(now: now) == .sleep(until: now + 15_000))
        s.handle(.runStarted, now: now)
        s.handle(.succeeded, now: now)
        s.handle(.localWrite, now: now)
        #expect(s.nextAction(now: now + 50) == .sync)  // success resets the backoff
    }

    @Test func noRequestBeforeRetryAfterNotEvenForWritesOrExplicitRequests() {
        var s = schedule()
        s.handle(.started, now: 0)
        s.handle(.runStarted, now: 0)
        s.handle(.failed(retryAfter: .seconds(30), jitter: 0), now: 0)
        s.handle(.localWrite, now: 1_000)
        // 30 s after the answer, which came within millisecond 0 (see the rounding test below).
        #expect(s.nextAction(now: 1_050) == .sleep(until: 30_001))
        s.handle(.requested, now: 2_000)
        #expect(s.nextAction(now: 2_000) == .sleep(until: 30_001))
        #expect(s.nextAction(now: 30_001) == .sync)
    }

    @Test func anExplicitRequestSkipsOurOwnBackoff() {
        var s = schedule()
        s.handle(.started, now: 0)
        for _ in 0..<5 {
            s.handle(.runStarted, now: 0)
            s.handle(.failed(retryAfter: nil, jitter: 1), now: 0)
        }
        #expect(s.nextAction(now: 100) == .sleep(until: 16_000))
        s.handle(.requested, now: 100)
        #expect(s.nextAction(now: 100) == .sync)
    }

    @Test func authFailureWaitsForANewTokenOrARequest() {
        var s = schedule()
        s.handle(.started, now: 0)
        s.handle(.runStarted, now: 0)
        s.handle(.authRequired, now: 10)
        s.handle(.localWrite, now: 20)
        #expect(s.nextAction(now: 1_000_000) == .sleep(until: nil))
        s.handle(.tokenUpdated, now: 1_000_000)
        #expect(s.nextAction(now: 1_000_000) == .sync)
    }

    @Test func retryAfterHeadersParseAndClamp() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(RESTBackend.retryAfter("120", now: now) == .seconds(120))
        #expect(RESTBackend.retryAfter("1.5", now: now) == .milliseconds(1_500))
        #expect(RESTBackend.retryAfter("-5", now: now) == .zero)
        #expect(RESTBackend.retryAfter("99999999", now: now) == RESTBackend.maximumRetryAfter)
        let date = "Mon, 12 Jan 1970 13:47:10 GMT"  // 1_000_030 s
        #expect(RESTBackend.retryAfter(date, now: now) == .seconds(30))
        #expect(RESTBackend.retryAfter("soon", now: now) == nil)
        #expect(RESTBackend.retryAfter(nil, now: now) == nil)
    }

    @Test func v1CursorsRoundTrip() {
        let cursor = V1Cursor(since: Date(timeIntervalSince1970: 1_700_000_000.123), offset: 200,
                              newest: Date(timeIntervalSince1970: 1_700_000_100))
        #expect(V1Cursor(cursor.text) == cursor)
        #expect(V1Cursor(nil) == V1Cursor(since: nil, offset: 0, newest: nil))
        #expect(V1Cursor("garbage") == V1Cursor(since: nil, offset: 0, newest: nil))
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2026-11-21T17:03:04.123Z", 1_795_280_584.123),
        ("2026-11-21T17:03:04Z", 1_795_280_584.0),
        ("2026-11-21T18:03:04.123+01:00", 1_795_280_584.123),
        ("2026-11-21T12:03:04.123-0500", 1_795_280_584.123),
        ("2026-11-21T17:03:04.123", 1_795_280_584.123),            // no zone: UTC (the Dart SDK's form)
        ("2026-11-21T17:03:04.123456", 1_795_280_584.123456),
        ("1970-01-01T00:00:00.000Z", 0),
        ("1969-12-31T23:59:59.500Z", -0.5),
        ("2000-02-29T00:00:00Z", 951_782_400),
    ])
    func parsesRFC3339(_ text: String, _ seconds: Double) throws {
        let date = try #require(Timestamp.parse(text))
        #expect(abs(date.timeIntervalSince1970 - seconds) < 0.000_001)
    }

    @Test(arguments: ["", "2026-11-21", "2026-13-01T00:00:00Z", "2026-11-21T25:00:00Z", "2026-11-21T17:03:04.Z",
                      "2026-11-21T17:03:04Q", "2026-11-21T17:03:04Z trailing", "yesterday"])
    func rejectsOthers(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test func formatsUTCWithMillisecondsAndRoundTrips() {
        for seconds in [0, 1_700_000_000.123, 1_795_280_584.999, -0.5, 951_782_400] as [Double] {
            let date = Date(timeIntervalSince1970: seconds)
            let text = Timestamp.format(date)
            #expect(abs((Timestamp.parse(text)?.timeIntervalSince1970 ?? .nan) - (seconds * 1000).rounded() / 1000) < 0.000_001, "\(text)")
        }
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_700_000_000.123)) == "2023-11-14T22:13:20.123Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_700_000_000)) == "2023-11-14T22:13:20.000Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
    }
}
