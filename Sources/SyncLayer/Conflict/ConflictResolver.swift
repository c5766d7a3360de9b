import Foundation

/// Decides what survives when a local change and a remote change meet.
///
/// Pure: sees the two sides and their common base, returns the document to keep (`nil`:
/// deleted). The sync engine writes the result locally and pushes it when it differs from the
/// server's copy.
///
/// Deletes against edits: `serverWins` and `clientWins` keep their side, delete or not;
/// `lastWriteWins` and `merge` let the later write win, a delete being a write like any other;
/// a custom resolver decides (return `nil` to delete).
struct ConflictResolver: Sendable {
    let strategy: ConflictStrategy
    let custom: CustomConflictResolver?

    init(strategy: ConflictStrategy, custom: CustomConflictResolver?) {
        self.strategy = strategy
        self.custom = custom
    }

    /// The resolver a collection uses: its own strategy, else the configuration's.
    init(config: SyncConfig, collection: String) {
        self.init(strategy: config.collectionConflictStrategies[collection] ?? config.conflictStrategy,
                  custom: config.customConflictResolver)
    }

    /// Which side the result came from, for events.
    enum Winner: String, Sendable {
        case local, remote, merged
    }

    struct Input {
        let collection: String
        let id: String
        let local: [String: JSONValue]?
        let localHLC: HLCTimestamp
        let localUpdatedAt: Date
        let remote: [String: JSONValue]?
        let remoteHLC: HLCTimestamp
        let remoteUpdatedAt: Date
        let base: [String: JSONValue]?
    }

    func resolve(_ input: Input) -> (data: [String: JSONValue]?, winner: Winner) {
        let localIsLater = input.localHLC > input.remoteHLC
        switch strategy {
        case .serverWins:
            return (input.remote, .remote)
        case .clientWins:
            return (input.local, .local)
        case .lastWriteWins:
            return localIsLater ? (input.local, .local) : (input.remote, .remote)
        case .merge:
            guard let local = input.local, let remote = input.remote else {
                return localIsLater ? (input.local, .local) : (input.remote, .remote)
            }
            let merged = ConflictResolver.threeWayMerge(local: local, remote: remote, base: input.base ?? [:],
                                                         localWinsBoth: localIsLater)
            return (merged, merged == remote ? .remote : merged == local ? .local : .merged)
        case .custom:
            let context = ConflictContext(collection: input.collection, documentID: input.id, local: input.local,
                                          remote: input.remote, base: input.base, localUpdatedAt: input.localUpdatedAt,
                                          remoteUpdatedAt: input.remoteUpdatedAt, localIsLater: localIsLater)
            let result = custom?(context) ?? input.remote
            return (result, result == input.remote ? .remote : result == input.local ? .local : .merged)
        }
    }

    /// Field by field: a side that changed a field since `base` keeps its change; when both
    /// changed it, the later write wins.
    static func threeWayMerge(local: [String: JSONValue], remote: [String: JSONValue], base: [String: JSONValue],
                              localWinsBoth: Bool) -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        for key in Set(local.keys).union(remote.keys).union(base.keys) {
            let l = local[key], r = remote[key], b = base[key]
            let value: JSONValue?
            if l == r { value = l }
            else if l == b { value = r }
            else if r == b { value = l }
            else { value = localWinsBoth ? l : r }
            if let value { result[key] = value }
        }
        return result
    }
}

/// Ready-made resolvers for ``ConflictStrategy/custom`` (SyncLayer Dart's `ConflictResolvers`).
///
/// Each starts from the remote document and takes what it names from the local one. When either
/// side is deleted, the remote side is kept.
public enum ConflictResolvers {
    /// For the listed array fields, the union of both sides (local order first, no duplicates).
    public static func mergeArrays(_ fields: [String]) -> CustomConflictResolver {
        fieldwise(fields) { local, remote, _ in
            guard case .array(let l) = local, case .array(let r) = remote else { return remote }
            var seen = Set<JSONValue>()
            return .array((l + r).filter { seen.insert($0).inserted })
        }
    }

    /// For the listed number fields, both sides' increments since the base: `remote + (local − base)`.
    /// (SyncLayer Dart added the two values, counting the common base twice.)
    public static func sumNumbers(_ fields: [String]) -> CustomConflictResolver {
        fieldwise(fields) { local, remote, base in
            guard let l = local?.doubleValue, let r = remote?.doubleValue else { return remote }
            let b = base?.doubleValue ?? 0
            if case .int(let li) = local, case .int(let ri) = remote, case .int(let bi)? = base ?? .int(0) {
                return .int(ri + li - bi)
            }
            return .double(r + l - b)
        }
    }

    /// The listed fields come from the local side when it has them.
    public static func mergeFields(_ fields: [String]) -> CustomConflictResolver {
        fieldwise(fields) { local, remote, _ in local ?? remote }
    }

    /// For the listed number fields, the larger value.
    public static func maxValue(_ fields: [String]) -> CustomConflictResolver {
        fieldwise(fields) { local, remote, _ in
            guard let l = local?.doubleValue, let r = remote?.doubleValue else { return remote ?? local }
            return l > r ? local : remote
        }
    }

    /// Recursive merge: remote wins on scalars, local-only keys are added, objects recurse,
    /// arrays are united.
    public static func deepMerge() -> CustomConflictResolver {
        { context in
            guard let local = context.local, let remote = context.remote else { return context.remote }
            return merge(.object(local), .object(remote)).objectValue
        }
    }

    /// Three-way merge against the base (see ``ConflictStrategy/merge``); a field both sides
    /// changed goes to the later write (``ConflictContext/localIsLater``).
    public static func threeWayMerge() -> CustomConflictResolver {
        { context in
            guard let local = context.local, let remote = context.remote else { return context.remote }
            return ConflictResolver.threeWayMerge(local: local, remote: remote, base: context.base ?? [:],
                                                  localWinsBoth: context.localIsLater)
        }
    }

    /// Field by field, the side whose `<field>_updatedAt` (an ISO 8601 date the app writes next
    /// to the field) is later wins the field and brings its stamp. Without a stamp on both sides,
    /// or with equal ones, the later write wins (``ConflictContext/localIsLater``). A field only
    /// one side has is kept, unless the other side removed it since the base and the later write
    /// is that removal. (SyncLayer Dart kept only the fields of the side that won, so a field
    /// added on the other side was lost.)
    public static func fieldLevelLastWriteWins() -> CustomConflictResolver {
        { context in
            guard let local = context.local, let remote = context.remote else { return context.remote }
            let suffix = "_updatedAt"
            let keys = Set(local.keys).union(remote.keys)
            func isStamp(_ key: String) -> Bool { key.hasSuffix(suffix) && keys.contains(String(key.dropLast(suffix.count))) }
            func stamp(_ value: JSONValue?) -> Date? { value?.stringValue.flatMap(Timestamp.parse) }
            var result = remote
            for field in keys where !isStamp(field) {
                let stampKey = field + suffix
                let takeLocal: Bool
                if (local[field] == nil) != (remote[field] == nil) {
                    let removed = context.base?[field] != nil
                    takeLocal = removed ? context.localIsLater : local[field] != nil
                } else if let l = stamp(local[stampKey]), let r = stamp(remote[stampKey]), l != r {
                    takeLocal = l > r
                } else {
                    takeLocal = context.localIsLater
                }
                guard takeLocal else { continue }
                result[field] = local[field]
                if let localStamp = local[stampKey] { result[stampKey] = localStamp }
            }
            return result
        }
    }

    private static func merge(_ local: JSONValue, _ remote: JSONValue) -> JSONValue {
        switch (local, remote) {
        case (.object(let l), .object(let r)):
            var result = r
            for (key, value) in l { result[key] = r[key].map { merge(value, $0) } ?? value }
            return .object(result)
        case (.array(let l), .array(let r)):
            var seen = Set<JSONValue>()
            return .array((r + l).filter { seen.insert($0).inserted })
        default:
            return remote
        }
    }

    private static func fieldwise(_ fields: [String],
                                  _ combine: @escaping @Sendable (JSONValue?, JSONValue?, JSONValue?) -> JSONValue?)
        -> CustomConflictResolver {
        { context in
            guard let local = context.local, var result = context.remote else { return context.remote }
            for field in fields {
                result[field] = combine(local[field], result[field], context.base?[field])
            }
            return result
        }
    }
}
