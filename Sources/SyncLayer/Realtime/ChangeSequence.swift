/// Tells, per collection, whether a change message arrived after every earlier one of the
/// connection or one was lost on the way (PROTOCOL.md §5.5).
///
/// The server's `seq` is global, so the seqs of one collection have gaps; a v2 server puts the
/// seq of the previous change it sent for the collection in `metadata.prevSeq`, and the seq the
/// stream stands at in the `subscribed` answer. A `prevSeq` other than the last seq seen means
/// a message was lost. Pure: the manager asks, then pulls when told to.
struct ChangeSequence: Sendable, Equatable {
    enum Verdict: Sendable, Equatable {
        /// The next message of the stream (or the first one seen).
        case inOrder
        /// A duplicate or a message overtaken by a later one: nothing is missing because of it.
        case late
        /// A message before this one was lost, or (without `prevSeq`) the order broke: pull.
        case missing
    }

    private var last: [String: Int] = [:]

    /// A new connection: nothing seen yet.
    mutating func reset() { last.removeAll() }

    /// The collection is subscribed again; its stream starts over.
    mutating func forget(_ collection: String) { last[collection] = nil }

    /// A change message with its `seq` and `prevSeq` (nil from servers that do not send it).
    mutating func change(_ collection: String, seq: Int, prevSeq: Int?) -> Verdict {
        guard let known = last[collection] else {
            // The first message of the stream: the catch-up pull after subscribing covers the
            // replay before it.
            last[collection] = seq
            return .inOrder
        }
        guard seq > known else {
            // Without prevSeq an older seq is the only sign of trouble; with it, the message
            // that overtook this one already reported the gap.
            return prevSeq == nil && seq < known ? .missing : .late
        }
        last[collection] = seq
        return prevSeq.map { $0 == known ? .inOrder : .missing } ?? .inOrder
    }

    /// The `subscribed` answer: the stream stands at `seq`. `.missing` when a replayed change
    /// before it was lost.
    mutating func subscribed(_ collection: String, seq: Int) -> Verdict {
        guard let known = last[collection] else {
            last[collection] = seq
            return .inOrder
        }
        last[collection] = max(known, seq)
        return known == seq ? .inOrder : known > seq ? .late : .missing
    }
}
