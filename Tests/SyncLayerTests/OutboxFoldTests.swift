import Testing
@testable import SyncLayer

@Suite struct OutboxFoldTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let queued: OperationType
        let new: OperationType
        let expected: OutboxFold.Result
        var testDescription: String { "\(queued) + \(new)" }
    }

    static let document = #"{"a":1,"b":2}"#

    @Test(arguments: [
        Case(queued: .insert, new: .update, expected: .replace(type: .insert, payload: document)),
        Case(queued: .insert, new: .patch, expected: .replace(type: .insert, payload: document)),
        Case(queued: .insert, new: .delete, expected: .drop),
        Case(queued: .update, new: .update, expected: .replace(type: .update, payload: document)),
        Case(queued: .update, new: .patch, expected: .replace(type: .update, payload: document)),
        Case(queued: .update, new: .delete, expected: .replace(type: .delete, payload: nil)),
        Case(queued: .patch, new: .update, expected: .replace(type: .update, payload: document)),
        Case(queued: .patch, new: .delete, expected: .replace(type: .delete, payload: nil)),
        Case(queued: .delete, new: .update, expected: .replace(type: .update, payload: document)),
        Case(queued: .delete, new: .insert, expected: .replace(type: .update, payload: document)),
    ])
    func foldsByTheTable(_ c: Case) throws {
        let newPayload: String? = c.new == .delete ? nil : Self.document
        #expect(try OutboxFold.fold(queued: (c.queued, "{}"), new: (c.new, newPayload), document: Self.document) == c.expected)
    }

    @Test func patchesMergeWithTheNewerValueWinning() throws {
        let result = try OutboxFold.fold(queued: (.patch, #"{"a":1,"b":1}"#), new: (.patch, #"{"b":2,"c":null}"#),
                                         document: "{}")
        #expect(result == .replace(type: .patch, payload: #"{"a":1,"b":2,"c":null}"#))
    }
}
