import Testing
@testable import SyncLayer

@Suite struct ChangeSequenceTests {
    /// One message of a stream: a change (`seq`, `prevSeq`) or a `subscribed` answer (`seq`).
    enum Message: Sendable, CustomStringConvertible {
        case change(Int, prevSeq: Int?)
        case subscribed(Int)

        var description: String {
            switch self {
            case .change(let seq, let prevSeq): "change \(seq) after \(prevSeq.map(String.init) ?? "-")"
            case .subscribed(let seq): "subscribed \(seq)"
            }
        }
    }

    static let streams: [(name: String, messages: [Message], verdicts: [ChangeSequence.Verdict])] = [
        ("in order, with the global seq's gaps", [.subscribed(10), .change(12, prevSeq: 10), .change(17, prevSeq: 12)],
         [.inOrder, .inOrder, .inOrder]),
        ("a lost message", [.subscribed(10), .change(12, prevSeq: 10), .change(17, prevSeq: 15)],
         [.inOrder, .inOrder, .missing]),
        ("the first live message lost", [.subscribed(10), .change(17, prevSeq: 12)], [.inOrder, .missing]),
        ("a duplicate", [.subscribed(10), .change(12, prevSeq: 10), .change(12, prevSeq: 10), .change(13, prevSeq: 12)],
         [.inOrder, .inOrder, .late, .inOrder]),
        ("two swapped: the overtaking one reports the gap", [.subscribed(10), .change(13, prevSeq: 12), .change(12, prevSeq: 10)],
         [.inOrder, .missing, .late]),
        ("a replay whose last message was lost", [.change(4, prevSeq: 2), .change(6, prevSeq: 4), .subscribed(9)],
         [.inOrder, .inOrder, .missing]),
        ("a replay received whole", [.change(4, prevSeq: 2), .change(6, prevSeq: 4), .subscribed(6), .change(8, prevSeq: 6)],
         [.inOrder, .inOrder, .inOrder, .inOrder]),
        ("without prevSeq only disorder counts", [.change(5, prevSeq: nil), .change(9, prevSeq: nil), .change(7, prevSeq: nil),
                                                  .change(9, prevSeq: nil)],
         [.inOrder, .inOrder, .missing, .late]),
    ]

    @Test(arguments: streams.indices)
    func judgesEachMessageOfAStream(_ index: Int) {
        let stream = Self.streams[index]
        var sequence = ChangeSequence()
        let verdicts = stream.messages.map { message in
            switch message {
            case .change(let seq, let prevSeq): sequence.change("todos", seq: seq, prevSeq: prevSeq)
            case .subscribed(let seq): sequence.subscribed("todos", seq: seq)
            }
        }
        #expect(verdicts == stream.verdicts, "\(stream.name): \(stream.messages)")
    }

    @Test func collectionsAreJudgedApartAndForgettingStartsAStreamOver() {
        var sequence = ChangeSequence()
        #expect(sequence.subscribed("todos", seq: 10) == .inOrder)
        #expect(sequence.subscribed("notes", seq: 3) == .inOrder)
        #expect(sequence.change("notes", seq: 11, prevSeq: 3) == .inOrder)
        #expect(sequence.change("todos", seq: 12, prevSeq: 10) == .inOrder)
        sequence.forget("todos")
        #expect(sequence.change("todos", seq: 30, prevSeq: 20) == .inOrder)  // a new subscription's first message
        #expect(sequence.change("notes", seq: 31, prevSeq: 20) == .missing)
        sequence.reset()
        #expect(sequence.change("notes", seq: 40, prevSeq: 35) == .inOrder)
    }
}
