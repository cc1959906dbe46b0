import NIOCore
import Shared

/// Chat delivery, as a logged-in session needs it: presence, live relay, the inbox.
/// Futures complete on the loop passed in.
protocol SessionDelivery: Sendable {
    /// The mailbox of a session that has just logged in, before `sessionStarted`.
    func mailbox(username: String, sessionID: UInt64, channel: Channel) -> SessionMailbox

    /// `mailbox`'s user logged in: it becomes their session (displacing an older one).
    /// Answers with the frames the login's `ok` is followed by: the inbox summary first.
    /// Fails when the session could not be recorded as online: it must end.
    func sessionStarted(_ mailbox: SessionMailbox, on loop: EventLoop) -> EventLoopFuture<[ServerFrame]>

    /// The session of `mailbox` ended (logout, or a dropped connection when `disconnected`):
    /// its unacknowledged live messages go to the inbox and its partner is told.
    func sessionEnded(_ mailbox: SessionMailbox, disconnected: Bool)

    /// Opens the chat with `partner`: waiting messages first, then the pairing notices;
    /// answers `ok` or an error frame.
    func openChat(partner: String, requestID: Int, mailbox: SessionMailbox, on loop: EventLoop)
        -> EventLoopFuture<ServerFrame>

    /// The user of `mailbox` drops their choice; a partner is told. Answers `ok` or an error
    /// frame.
    func leave(_ mailbox: SessionMailbox, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame>

    /// Sends `body` to the partner chosen in `mailbox`.
    func send(from mailbox: SessionMailbox, body: String, requestID: Int, on loop: EventLoop) -> SendAnswer

    /// The client of `mailbox` has shown every message up to `seq` (cumulative).
    func acknowledge(upTo seq: Int, mailbox: SessionMailbox)

    /// Waiting messages per sender for `user`; answers an `inbox` frame or an error frame.
    func summary(for user: String, requestID: Int?, on loop: EventLoop) -> EventLoopFuture<ServerFrame>

    /// Every other logged-in user; answers `who` or an error frame.
    func who(except user: String, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame>
}

/// The answer to a send: at once (delivered live, or refused), or once the inbox has
/// synced. Most messages are live, and answering those without a future saves its
/// allocations and callbacks on every one.
enum SendAnswer {
    case now(ServerFrame)
    case later(EventLoopFuture<ServerFrame>)
}
