// The Swift samples of README.md, doc/*.md, the DocC catalog and the library's doc comments, word for
// word, so that the compiler checks them. `DocSampleTests` fails when a sample in a document is not
// found here (or in the other sample files it names), so a sample cannot drift from the API.
//
// Each sample sits in a function of its own that nothing calls; the lines before a sample give it
// the names it takes as given (`sync`, `todos`, `token`, ...). This file imports only what a user's
// file would: Foundation, SyncLayer and SyncLayerTesting.
import Foundation
import SyncLayer
import SyncLayerTesting

// MARK: Names the samples take as given

private let token = "token"
private let id = "id"
private func render(_ documents: [Document]) {}
private func render(_ todos: [some Any]) {}
private enum auth { static func freshToken() async throws -> String { token } }
private func handle(_ text: String) {}

// MARK: README.md

private func readmeQuickStart() async throws {
    let sync = try await SyncLayer(config: SyncConfig(
        baseURL: URL(string: "https://api.example.com"), collections: ["todos"], authToken: token,
        enableRealtimeSync: true, websocketURL: URL(string: "wss://api.example.com/ws")))
    let todos = sync.collection("todos")
    let id = try await todos.save(["text": "Buy milk", "done": false])   // committed locally, synced in the background
    try await todos.update(id, ["done": true])                           // a patch, merged on other devices
    for try await open in todos.where("done", isEqualTo: false).orderBy("text").watch() {
        render(open)                                                     // now, then after every local or remote change
    }
}

private func readmeTypedModels(sync: SyncLayer) async throws {
    struct Todo: Codable, Identifiable, Sendable { var id: String; var text: String; var done: Bool }
    let typed = sync.collection("todos", as: Todo.self)
    try await typed.save(Todo(id: UUID().uuidString, text: "Call mum", done: false))
    let open: [Todo] = try await typed.where("done", isEqualTo: false).get()
    _ = open
}

// MARK: doc/SYNC_GUIDE.md

private func syncGuideSettingUp() async throws {
    let sync = try await SyncLayer(config: SyncConfig(
        baseURL: URL(string: "https://api.example.com")!,
        collections: ["todos", "lists"],
        authToken: token,
        tokenProvider: { try await auth.freshToken() },     // called once per 401, shared by all requests
        conflictStrategy: .lastWriteWins,
        collectionConflictStrategies: ["lists": .merge],
        storage: .default))
    _ = sync
}

// MARK: doc/REALTIME_SYNC_GUIDE.md

private func realtimeGuideSetUp() async throws {
    let sync = try await SyncLayer(config: SyncConfig(
        baseURL: URL(string: "https://api.example.com")!,
        collections: ["todos"],
        authToken: token,
        tokenProvider: { try await auth.freshToken() },
        enableRealtimeSync: true,
        websocketURL: URL(string: "wss://api.example.com/ws")!,
        websocketReconnectDelay: .seconds(1),          // first reconnect delay; then doubling with jitter, capped at 60 s
        maxWebsocketReconnectAttempts: nil))           // nil: never give up (the default)

    for try await todos in sync.collection("todos").watch() { render(todos) }   // remote changes show up here
}

// MARK: SyncLayer.docc/SyncLayer.md

private func doccOverview() async throws {
    let sync = try await SyncLayer(config: SyncConfig(
        baseURL: URL(string: "https://api.example.com"), collections: ["todos"], authToken: token))
    let todos = sync.collection("todos")
    let id = try await todos.save(["text": "Buy milk", "done": false])
    try await todos.update(id, ["done": true])
    for try await open in todos.where("done", isEqualTo: false).watch() { render(open) }
}

// MARK: Doc comments of the public API

private func syncLayerDocComment() async throws {
    let sync = try await SyncLayer(config: SyncConfig(
        baseURL: URL(string: "https://api.example.com"), collections: ["todos"], authToken: token))
    let todos = sync.collection("todos")
    let id = try await todos.save(["text": "Buy milk", "done": false])   // returns once stored locally
    try await sync.syncNow()                                             // push and pull now
    _ = id
}

private func syncConfigDocComment() async throws {
    let config = SyncConfig(
        baseURL: URL(string: "https://api.example.com"),
        collections: ["todos", "lists"],
        storage: .file("/var/lib/app/sync.sqlite")
    )
    let sync = try await SyncLayer(config: config)
    _ = sync
}


private func syncLayerErrorDocComment(todos: CollectionReference) async throws {
    do { try await todos.update(id, ["done": true]) }
    catch let error as SyncLayerError where error.code == .documentNotFound { _ = error }
}

private func queryDocComments(todos: CollectionReference) async throws {
    let open = try await todos.where("done", isEqualTo: false).orderBy("text").limit(20).get()
    let urgent = try await todos.where("meta.priority", isGreaterThan: 2).count()
    _ = (open, urgent)
    for try await open in todos.where("done", isEqualTo: false).watch() { render(open) }
}

private func documentDocComment(todos: CollectionReference) async throws {
    if let doc = try await todos.get(id) {
        print(doc.id, doc["text"] ?? "", doc.syncState)
    }
}

private func jsonValueDocComment() {
    let data: [String: JSONValue] = ["text": "Buy milk", "done": false, "tags": ["home"], "prio": 2]
    _ = data
}

private func typedCollectionDocComment(sync: SyncLayer) async throws {
    struct Todo: Codable, Identifiable, Sendable { var id: String; var text: String; var done: Bool }
    let todos = sync.collection("todos", as: Todo.self)
    try await todos.save(Todo(id: UUID().uuidString, text: "Call mum", done: false))
    let open: [Todo] = try await todos.where("done", isEqualTo: false).get()
    _ = open
}

private func webSocketServiceDocComment(subscribe: String) async throws {
    let socket = try WebSocketService(url: URL(string: "wss://api.example.com/ws")!, token: token)
    Task { for await state in socket.states where state == .connected { try await socket.send(subscribe) } }
    Task { for await text in socket.messages { handle(text) } }
    try await socket.connect()          // returns once the handshake is done
    await socket.disconnect()           // closes with 1000; nothing reconnects
}

private func inMemoryBackendDocComment() async throws {
    let server = InMemoryBackend()
    let phone = try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .inMemory,
                                                       customBackend: server))
    _ = phone
}
