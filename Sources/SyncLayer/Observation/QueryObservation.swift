/// The results of a query over time; see ``Query/watch()``.
///
/// Iterating registers an observer of the collection *before* the first read, so no commit
/// can slip between the first result and the observation. Each later step waits for a commit
/// to the collection, re-runs the query, and yields only when the result differs.
public struct QueryObservation<Record: Sendable>: AsyncSequence, Sendable {
    public typealias Element = [Record]
    public typealias Failure = any Error
    let query: Query<Record>

    public func makeAsyncIterator() -> Iterator { Iterator(query: query) }

    public struct Iterator: AsyncIteratorProtocol {
        let query: Query<Record>
        private var registration: ChangeHub.Registration?
        private var last: [DocumentRow]?
        private var finished = false

        init(query: Query<Record>) { self.query = query }

        public mutating func next() async throws -> [Record]? {
            guard !finished else { return nil }
            if registration == nil {
                if Task.isCancelled { return finish() }
                registration = try query.source.store().changes.register(query.spec.collection)
                let rows = try query.rows()
                last = rows
                return try rows.map { try query.transform($0.document()) }
            }
            while let registration {
                guard await registration.signal.wait() else { return finish() }
                // Rows compare exactly (and cheaply): no decoding unless something changed.
                let rows = try query.rows()
                if rows != last {
                    last = rows
                    return try rows.map { try query.transform($0.document()) }
                }
            }
            return nil
        }

        private mutating func finish() -> [Record]? {
            finished = true
            registration = nil  // unregisters
            return nil
        }
    }
}
