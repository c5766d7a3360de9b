import SyncLayer

/// The offline part of `todo demo`: who edits what, in which order, and what each conflict
/// strategy must make of it.
///
/// Two todos are edited on both devices while offline:
/// 1. laptop renames "Buy milk" to "Buy oat milk"
/// 2. phone ticks "Call mum"
/// 3. phone renames "Buy milk" to "Buy 2 bottles of milk"
/// 4. laptop renames "Call mum" to "Call mum back"
/// 5. phone adds "Water plants" (no conflict: it simply appears everywhere)
///
/// Then the laptop reconnects first (its changes reach the server without conflict) and the
/// phone second (its two edits conflict). The order makes the four strategies give four
/// different results: "Buy milk" tells who wins a field both renamed, "Call mum" whether edits
/// to different fields are merged.
enum DemoScenario {
    static let milk = "Buy milk"
    static let mum = "Call mum"
    static let plants = "Water plants"
    static let laptopMilk = "Buy oat milk"
    static let phoneMilk = "Buy 2 bottles of milk"
    static let laptopMum = "Call mum back"

    /// Which device a change is made on.
    enum Device: String, Sendable {
        case laptop, phone

        /// `laptop:` / `phone: `, aligned.
        var label: String { (rawValue + ":").padding(toLength: 7, withPad: " ", startingAt: 0) }
    }

    /// One offline change.
    enum Edit: Sendable {
        case rename(Device, from: String, to: String)
        case tick(Device, String)
        case add(Device, String)

        var device: Device {
            switch self {
            case .rename(let device, _, _), .tick(let device, _), .add(let device, _): device
            }
        }

        var description: String {
            switch self {
            case .rename(let device, let from, let to): "\(device.label) \"\(from)\" → \"\(to)\""
            case .tick(let device, let text): "\(device.label) ticked \"\(text)\""
            case .add(let device, let text): "\(device.label) added \"\(text)\""
            }
        }
    }

    /// The offline edits, in order.
    static let edits: [Edit] = [
        .rename(.laptop, from: milk, to: laptopMilk),
        .tick(.phone, mum),
        .rename(.phone, from: milk, to: phoneMilk),
        .rename(.laptop, from: mum, to: laptopMum),
        .add(.phone, plants),
    ]

    /// A todo as the demo compares it.
    struct Outcome: Sendable, Hashable {
        var text: String
        var done: Bool
        /// Why, for people.
        var reason: String

        static func == (a: Outcome, b: Outcome) -> Bool { a.text == b.text && a.done == b.done }
        func hash(into hasher: inout Hasher) {
            hasher.combine(text)
            hasher.combine(done)
        }
    }

    /// What "Buy milk" and "Call mum" must become once both devices are back, in list order
    /// ("Water plants" follows, open).
    static func expected(_ strategy: ConflictStrategy) -> (milk: Outcome, mum: Outcome) {
        switch strategy {
        case .serverWins:
            (Outcome(text: laptopMilk, done: false, reason: "laptop's rename: it reached the server first"),
             Outcome(text: laptopMum, done: false, reason: "laptop's version: it reached the server first (phone's tick dropped)"))
        case .clientWins:
            (Outcome(text: phoneMilk, done: false, reason: "phone's rename: the device that syncs keeps its own version"),
             Outcome(text: mum, done: true, reason: "phone's version, ticked (laptop's rename dropped)"))
        case .merge:
            (Outcome(text: phoneMilk, done: false, reason: "both renamed it: the later rename (phone's) wins"),
             Outcome(text: laptopMum, done: true, reason: "merged: laptop's rename and phone's tick both kept"))
        case .lastWriteWins, .custom:
            (Outcome(text: phoneMilk, done: false, reason: "phone's rename: it was made later"),
             Outcome(text: laptopMum, done: false, reason: "laptop's version: its rename was made later (phone's tick dropped)"))
        }
    }
}
