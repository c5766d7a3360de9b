import Foundation
import Testing
@testable import SyncLayer

@Suite struct WebSocketConnectionStateMachineTests {
    typealias Machine = WebSocketConnectionStateMachine
    typealias Action = Machine.Action

    func machine(maxAttempts: Int? = nil) -> Machine {
        Machine(configuration: .init(heartbeatInterval: .seconds(25), pongTimeout: .seconds(10),
                                     backoff: Backoff(initial: .seconds(1), maximum: .seconds(30)), maxReconnectAttempts: maxAttempts))
    }

    static let dropped = SyncError.network("dropped")

    @Test func connectsAndSettlesTheConnectCallOnlyAfterTheHandshake() {
        var m = machine()
        #expect(m.handle(.connectRequested, now: 0) == [.publish(.connecting), .open(connection: 1)])
        #expect(m.handle(.connectRequested, now: 1) == [])  // the attempt in flight will settle it
        #expect(m.handle(.opened(connection: 1), now: 5) == [.publish(.connected), .settleConnect(.connected)])
        #expect(m.state == .connected)
        #expect(m.openConnection == 1)
        #expect(m.handle(.connectRequested, now: 6) == [.settleConnect(.connected)])
    }

    @Test func heartbeatsEveryIntervalAndAPongClearsTheDeadline() {
        var m = machine()
        _ = m.handle(.connectRequested, now: 0)
        _ = m.handle(.opened(connection: 1), now: 0)
        #expect(m.deadline == 25_000)
        #expect(m.handle(.timeElapsed, now: 24_999) == [])
        #expect(m.handle(.timeElapsed, now: 25_000) == [.sendHeartbeat(connection: 1)])
        #expect(m.deadline == 35_000)  // the pong deadline comes before the next heartbeat
        #expect(m.handle(.pongReceived(connection: 1), now: 25_010) == [])
        #expect(m.deadline == 50_000)
        #expect(m.handle(.timeElapsed, now: 50_000) == [.sendHeartbeat(connection: 1)])
    }

    @Test func aMissingPongAbortsAndReconnectsWithBackoff() {
        var m = machine()
        _ = m.handle(.connectRequested, now: 0)
        _ = m.handle(.opened(connection: 1), now: 0)
        _ = m.handle(.timeElapsed, now: 25_000)
        let actions = m.handle(.timeElapsed, now: 35_000, jitter: 0.5)
        #expect(actions.first == .abort(connection: 1))
        #expect(actions.contains(.publish(.reconnecting)))
        #expect(m.deadline == 35_500)  // first failure: up to 1 s, here half of it
        #expect(m.handle(.closed(connection: 1, code: .abnormal, error: nil), now: 35_100) == [])  // the aborted one is stale
        #expect(m.handle(.timeElapsed, now: 35_500) == [.open(connection: 2)])
        #expect(m.handle(.opened(connection: 2), now: 35_600) == [.publish(.connected), .settleConnect(.connected)])
    }

    @Test func reconnectDelaysGrowExponentiallyUpToTheCapAndResetAfterSuccess() {
        var m = machine()
        _ = m.handle(.connectRequested, now: 0)
        var now: Int64 = 0
        var delays: [Int64] = []
        var connection = 1
        for _ in 0..<8 {
            _ = m.handle(.openFailed(connection: connection, error: Self.dropped), now: now, jitter: 1)
            guard let deadline = m.deadline else { Issue.record("no reconnect scheduled"); return }
            delays.append(deadline - now)
            now = deadline
            #expect(m.handle(.timeElapsed, now: now) == [.open(connection: connection + 1)])
            connection += 1
        }
        #expect(delays == [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000])
        // A connection that answers a heartbeat is healthy: back to the first delay.
        _ = m.handle(.opened(connection: connection), now: now)
        _ = m.handle(.timeElapsed, now: now + 25_000)
        _ = m.handle(.pongReceived(connection: connection), now: now + 25_001)
        _ = m.handle(.closed(connection: connection, code: .goingAway, error: nil), now: now + 25_002, jitter: 1)
        #expect(m.deadline == now + 25_002 + 1_000)
        // So is one that stayed up a heartbeat interval.
        now = m.deadline!
        _ = m.handle(.timeElapsed, now: now)
        connection += 1
        _ = m.handle(.openFailed(connection: connection, error: Self.dropped), now: now, jitter: 1)
        #expect(m.deadline == now + 2_000)
        now = m.deadline!
        _ = m.handle(.timeElapsed, now: now)
        _ = m.handle(.opened(connection: connection + 1), now: now)
        _ = m.handle(.closed(connection: connection + 1, code: .abnormal, error: nil), now: now + 25_000, jitter: 1)
        #expect(m.deadline == now + 25_000 + 1_000)
    }

    @Test func aServerThatAcceptsAndDropsAtOnceIsBackedOffToo() {
        var m = machine()
        _ = m.handle(.connectRequested, now: 0)
        var now: Int64 = 0
        var delays: [Int64] = []
        for connection in 1...5 {
            #expect(m.handle(.opened(connection: connection), now: now).contains(.publish(.connected)))
            _ = m.handle(.closed(connection: connection, code: .abnormal, error: nil), now: now + 10, jitter: 1)
            delays.append(m.deadline! - (now + 10))
            now = m.deadline!
            _ = m.handle(.timeElapsed, now: now)
        }
        #expect(delays == [1_000, 2_000, 4_000, 8_000, 16_000])
    }

    @Test func theFirstFailureSettlesConnectAndKeepsReconnecting() {
        var m = machine()
        _ = m.handle(.connectRequested, now: 0)
        let actions = m.handle(.openFailed(connection: 1, error: Self.dropped), now: 10, jitter: 0)
        #expect(actions == [.publish(.reconnecting), .settleConnect(.failed(Self.dropped))])
        #expect(m.lastError == Self.dropped)
        #expect(m.handle(.timeElapsed, now: 10) == [.open(connection: 2)])  // jitter 0: at once
    }

    @Test func anExplicitConnectSkipsTheBackoff() {
        var m = machine()
        _ = m.handle(.connectRequested, now: 0)
        _ = m.handle(.openFailed(connection: 1, error: Self.dropped), now: 0, jitter: 1)
        #expect(m.handle(.connectRequested, now: 1) == [.open(connection: 2)])
    }

    @Test(arguments: [0, 1, 3])
    func givesUpAfterMaxReconnectAttempts(limit: Int) {
        var m = machine(maxAttempts: limit)
        _ = m.handle(.connectRequested, now: 0)
        _ = m.handle(.opened(connection: 1), now: 0)
        var actions = m.handle(.closed(connection: 1, code: .abnormal, error: Self.dropped), now: 0)
        var attempts = 0
        while case .waiting = m.phase {
            let now = m.deadline!
            #expect(m.handle(.timeElapsed, now: now) == [.open(connection: attempts + 2)])
            attempts += 1
            actions = m.handle(.openFailed(connection: attempts + 1, error: Self.dropped), now: now)
        }
        #expect(attempts == limit)
        guard case .publish(.error(let error))? = actions.first else { Issue.record("did not give up: \(actions)"); return }
        #expect(error.message.contains("gave up after \(limit)"))
        #expect(m.deadline == nil)
        #expect(m.handle(.timeElapsed, now: 1_000_000) == [])
    }

    @Test func anAuthRefusalRefreshesTheTokenOnceAndReopensAtOnce() {
        var m = machine()
        _ = m.handle(.connectRequested, now: 0)
        _ = m.handle(.opened(connection: 1), now: 0)
        // The reference server upgrades, then closes with 1008.
        #expect(m.handle(.closed(connection: 1, code: .policyViolation, error: nil), now: 5)
                == [.publish(.reconnecting), .refreshToken(rejectedBy: 1)])
        #expect(m.handle(.tokenRefreshed(connection: 1, newToken: true), now: 6) == [.open(connection: 2)])
        #expect(m.handle(.opened(connection: 2), now: 7) == [.publish(.connected), .settleConnect(.connected)])
        // Refused again before any sign the new token works: final.
        let actions = m.handle(.closed(connection: 2, code: .policyViolation, error: nil), now: 8)
        guard case .publish(.error(let error))? = actions.first else { Issue.record("did not give up: \(actions)"); return }
        #expect(error.kind == .unauthorized)
        #expect(error.code == "1008")
    }

    @Test func aPongProvesTheTokenSoALaterRefusalRefreshesAgain() {
        var m = machine()
        _ = m.handle(.connectRequested, now: 0)
        _ = m.handle(.openFailed(connection: 1, error: SyncError(kind: .unauthorized, status: 401, message: "401", isRetryable: true)), now: 0)
        _ = m.handle(.tokenRefreshed(connection: 1, newToken: true), now: 1)
        _ = m.handle(.opened(connection: 2), now: 2)
        _ = m.handle(.timeElapsed, now: 25_002)
        _ = m.handle(.pongReceived(connection: 2), now: 25_003)
        // An hour later the token expires: refresh again.
        #expect(m.handle(.closed(connection: 2, code: .policyViolation, error: nil), now: 3_600_000)
                == [.publish(.reconnecting), .refreshToken(rejectedBy: 2)])
    }

    @Test func noNewTokenIsFinalAndSettlesConnect() {
        var m = machine()
        _ = m.handle(.connectRequested, now: 0)
        let refused = SyncError(kind: .unauthorized, status: 403, message: "403", isRetryable: true)
        #expect(m.handle(.openFailed(connection: 1, error: refused), now: 0) == [.refreshToken(rejectedBy: 1)])
        let actions = m.handle(.tokenRefreshed(connection: 1, newToken: false), now: 1)
        guard case .publish(.error(let error)) = actions[0], case .settleConnect(.failed) = actions[1] else {
            Issue.record("unexpected \(actions)")
            return
        }
        #expect(error.kind == .unauthorized)
        #expect(m.handle(.timeElapsed, now: 100_000) == [])
        // connect() starts over.
        #expect(m.handle(.connectRequested, now: 200_000) == [.publish(.connecting), .open(connection: 2)])
    }

    @Test(arguments: [
        ("opening", [Machine.Event.connectRequested], [Action.close(connection: 1)]),
        ("open", [.connectRequested, .opened(connection: 1)], [.close(connection: 1)]),
        ("waiting", [.connectRequested, .openFailed(connection: 1, error: WebSocketConnectionStateMachineTests.dropped)], []),
        ("refreshing", [.connectRequested, .openFailed(connection: 1, error: SyncError(kind: .unauthorized, message: "", isRetryable: true))], []),
    ] as [(String, [Machine.Event], [Action])])
    func disconnectStopsEverythingFrom(phase: String, events: [Machine.Event], closes: [Action]) {
        var m = machine()
        for event in events { _ = m.handle(event, now: 0) }
        #expect(m.handle(.disconnectRequested, now: 1) == closes + [.publish(.disconnected), .settleConnect(.cancelled)], "\(phase)")
        #expect(m.deadline == nil)
        // Whatever the old connection or refresh still reports changes nothing (Dart bug B-RT3).
        for late in [Machine.Event.opened(connection: 1), .closed(connection: 1, code: .normal, error: nil),
                     .openFailed(connection: 1, error: Self.dropped), .tokenRefreshed(connection: 1, newToken: true), .timeElapsed] {
            let actions = m.handle(late, now: 100_000)
            #expect(actions.allSatisfy { if case .close = $0 { true } else { false } }, "\(phase): \(late) → \(actions)")
        }
        #expect(m.state == .disconnected)
        #expect(m.handle(.disconnectRequested, now: 100_001) == [])
    }

    @Test func everyConnectionIncludingTheFirstPublishesConnected() {
        // The manager subscribes on each `.connected` (Dart bug B-RT1: the first was lost).
        var m = machine()
        var published: [WebSocketService.State] = []
        func run(_ event: Machine.Event, _ now: Int64) {
            for case .publish(let state) in m.handle(event, now: now, jitter: 0) { published.append(state) }
        }
        run(.connectRequested, 0)
        run(.opened(connection: 1), 1)
        run(.closed(connection: 1, code: .abnormal, error: nil), 2)
        run(.timeElapsed, 2)
        run(.opened(connection: 2), 3)
        #expect(published == [.connecting, .connected, .reconnecting, .connected])
    }
}
