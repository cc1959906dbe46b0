import ArgumentParser

/// What `--scenario` selects.
enum ScenarioChoice: String, CaseIterable, ExpressibleByArgument, Sendable {
    case sessions
    case relay
    case inbox
    case handshakes
    case loginStorm = "login-storm"
    case slowloris
    case files
    case all

    /// The scenarios to run, in order (`all` runs every one).
    var expanded: [ScenarioChoice] {
        self == .all ? [.sessions, .relay, .inbox, .handshakes, .loginStorm, .slowloris, .files] : [self]
    }

    /// Whether the scenario spreads its users over several nodes (`--nodes`): relay splits
    /// each pair across two nodes, inbox deals its senders to the nodes. The others measure
    /// one server's connections and have no meaning spread out.
    var spansNodes: Bool {
        self == .relay || self == .inbox
    }
}
