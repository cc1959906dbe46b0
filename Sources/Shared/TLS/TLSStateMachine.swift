/// The life of one TLS channel, without any I/O: `TLSHandler` reports what happened
/// and gets back what to do, so the transitions can be read (and tested) in one place.
struct TLSStateMachine {
    enum State: Equatable {
        /// The channel is not active yet.
        case idle
        /// Handshake messages are being exchanged.
        case handshaking
        /// Application data flows both ways.
        case active
        /// close_notify was sent (by us first, or in reply to the peer's); waiting for the
        /// peer's close_notify or for the channel to close.
        case closing
        /// Finished: the channel is closed or about to be; nothing more is read or written.
        case closed
    }

    /// What `close(...)` from the pipeline should do.
    enum CloseAction: Equatable {
        /// No TLS session to shut down yet: close the socket.
        case closeChannel
        /// Send close_notify, then wait for the peer's.
        case sendCloseNotify
        /// A close is already under way; join it.
        case joinPendingClose
        /// Nothing is open any more; pass the close on so the caller's promise completes.
        case passThrough
    }

    /// What to do when the peer's close_notify arrives.
    enum CloseNotifyAction: Equatable {
        /// The peer closed first: answer with our close_notify, then close the socket.
        case replyThenClose
        /// We closed first and this is the answer: close the socket now.
        case closeChannel
    }

    /// What to report when the socket goes away underneath us.
    enum InactiveAction: Equatable {
        /// The peer vanished after the handshake without close_notify.
        case reportUncleanShutdown
        /// The peer vanished mid-handshake (port scans do this).
        case reportHandshakeAborted
        /// An orderly end; nothing to report.
        case none
    }

    /// What to do with ciphertext that arrived from the network.
    enum ReadAction: Equatable {
        /// Nothing is read: the channel is not active yet, or the connection is over.
        case discard
        /// Feed it to the handshake; once that completes, read what follows as plaintext.
        case continueHandshake
        /// Decrypt it and pass the plaintext up.
        case readPlaintext
        /// We sent close_notify: decrypt only to find the peer's, and pass nothing up (the
        /// application asked to close; what the peer still sends is not its business).
        case awaitCloseNotify
    }

    private(set) var state: State = .idle

    mutating func bytesReceived() -> ReadAction {
        switch state {
        case .idle, .closed: return .discard
        case .handshaking: return .continueHandshake
        case .active: return .readPlaintext
        case .closing: return .awaitCloseNotify
        }
    }

    /// True when the held writes may be encrypted and sent now.
    var canFlush: Bool { state == .active }

    /// True when the handshake should start now.
    mutating func channelActive() -> Bool {
        guard state == .idle else { return false }
        state = .handshaking
        return true
    }

    mutating func handshakeCompleted() {
        if state == .handshaking { state = .active }
    }

    /// A fatal error: the handler closes the socket itself.
    mutating func failed() {
        state = .closed
    }

    var canAcceptWrites: Bool {
        switch state {
        case .idle, .handshaking, .active: return true
        case .closing, .closed: return false
        }
    }

    mutating func closeRequested() -> CloseAction {
        switch state {
        case .idle, .handshaking:
            state = .closed
            return .closeChannel
        case .active:
            state = .closing
            return .sendCloseNotify
        case .closing:
            return .joinPendingClose
        case .closed:
            return .passThrough
        }
    }

    mutating func closeNotifyReceived() -> CloseNotifyAction {
        switch state {
        case .closing:
            state = .closed
            return .closeChannel
        default:
            state = .closed
            return .replyThenClose
        }
    }

    mutating func channelInactive() -> InactiveAction {
        let previous = state
        state = .closed
        switch previous {
        case .active: return .reportUncleanShutdown
        case .handshaking: return .reportHandshakeAborted
        case .idle, .closing, .closed: return .none
        }
    }
}
