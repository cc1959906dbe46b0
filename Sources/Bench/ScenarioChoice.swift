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
}
