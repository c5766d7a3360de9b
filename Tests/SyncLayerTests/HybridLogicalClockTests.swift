import Testing
@testable import SyncLayer

@Suite struct HybridLogicalClockTests {
    @Test func stampsIncreaseEvenWhenTheWallClockStandsStillOrGoesBack() {
        var clock = HybridLogicalClock(node: "a")
        let first = clock.next(now: 1_000)
        let second = clock.next(now: 1_000)
        let third = clock.next(now: 500)
        #expect(first < second && second < third)
        #expect(third.milliseconds == 1_000 && third.counter == 2)
    }

    @Test func aReceivedStampFromTheFutureOrdersLaterLocalChangesAfterIt() {
        var clock = HybridLogicalClock(node: "slow")
        let remote = HLCTimestamp(milliseconds: 86_400_000 + 1_000, counter: 7, node: "fast")
        clock.receive(remote, now: 1_000)
        let local = clock.next(now: 1_001)
        #expect(local > remote)
    }

    @Test func counterOverflowCarriesIntoMilliseconds() {
        var clock = HybridLogicalClock(node: "a", last: HLCTimestamp(milliseconds: 10, counter: HLCTimestamp.maxCounter, node: "a"))
        let next = clock.next(now: 10)
        #expect(next.milliseconds == 11 && next.counter == 0)
    }

    @Test func textFormSortsLikeTheStampsAndParsesBack() {
        let stamps = [
            HLCTimestamp(milliseconds: 5, counter: 1, node: "b"),
            HLCTimestamp(milliseconds: 5, counter: 1, node: "a"),
            HLCTimestamp(milliseconds: 1_732_200_000_000, counter: 0, node: "a"),
            HLCTimestamp(milliseconds: 5, counter: 0x10, node: "z"),
        ]
        #expect(stamps.sorted() == stamps.sorted { $0.description < $1.description })
        for stamp in stamps { #expect(HLCTimestamp(stamp.description) == stamp) }
        #expect(HLCTimestamp("garbage") == nil)
    }

    @Test(arguments: ["", "0000000000005-0001", "000000000005-0001-a", "+000000000005-0001-a", "0000000000005-+001-a",
                      "0000000000005-00g1-a", "0000000000005_0001-a", "0000000000005-0001_a", "000000000000\u{10}-0001-a"])
    func malformedTextIsNotAStamp(_ text: String) {
        #expect(HLCTimestamp(text) == nil)
    }

    @Test func parsesUpperCaseHexAndAnEmptyOrDashedNode() {
        #expect(HLCTimestamp("0000000000005-00AF-") == HLCTimestamp(milliseconds: 5, counter: 0xAF, node: ""))
        #expect(HLCTimestamp("1732200000000-ffff-a-b") == HLCTimestamp(milliseconds: 1_732_200_000_000, counter: 0xFFFF, node: "a-b"))
    }

    @Test func resumesFromAPersistedStampWithTheNewNode() {
        var clock = HybridLogicalClock(node: "me", last: HLCTimestamp(milliseconds: 9_000, counter: 3, node: "old"))
        let next = clock.next(now: 1)
        #expect(next.milliseconds == 9_000 && next.counter == 4 && next.node == "me")
    }
}

@Suite struct HybridLogicalClockDriftTests {
    @Test func aStampFromTooFarAheadIsIgnored() {
        var clock = HybridLogicalClock(node: "a")
        let hostile = HLCTimestamp(milliseconds: 1_000 + HybridLogicalClock.maximumForwardDrift + 1, counter: 0, node: "evil")
        clock.receive(hostile, now: 1_000)
        #expect(clock.next(now: 1_000).milliseconds == 1_000)
        clock.receive(HLCTimestamp(milliseconds: 1_000 + 86_400_000, counter: 0, node: "fast"), now: 1_000)
        #expect(clock.next(now: 1_000).milliseconds == 1_000 + 86_400_000)
    }
}
