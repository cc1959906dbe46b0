import NIOCore
import Shared

/// File transfer, as a logged-in session needs it: requests answered with the frames to
/// send. Futures complete on the loop passed in.
protocol SessionFiles: Sendable {
    /// Starts or resumes `sender`'s upload of `file` to `recipient`. Answers `upload` with
    /// the chunks already held, or an error frame.
    func upload(
        from sender: String, file: String, to recipient: String, size: Int, chunks: Int, requestID: Int,
        on loop: EventLoop
    ) -> EventLoopFuture<ServerFrame>

    /// Stores chunk `index` of `sender`'s upload `file`. Answers `ok` once it is durable, or
    /// an error frame.
    func chunk(from sender: String, file: String, index: Int, data: String, requestID: Int, on loop: EventLoop)
        -> EventLoopFuture<ServerFrame>

    /// Sends `user` up to `count` chunks of `file` (theirs to receive) from chunk `from`,
    /// each through `write`, whose future completes once the chunk is on its way: the next
    /// is read only then, so a file streams through one chunk at a time. Answers `ok`
    /// after the last, or an error frame (then no chunk was sent).
    func download(
        by user: String, file: String, from: Int, count: Int, requestID: Int, on loop: EventLoop,
        write: @escaping @Sendable (ServerFrame) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<ServerFrame>

    /// `user` is done with `file`, theirs to receive: fetched and checked (`received`) or
    /// rejected. The file is deleted and its sender told. Answers `ok` or an error frame.
    func done(by user: String, file: String, received: Bool, requestID: Int, on loop: EventLoop)
        -> EventLoopFuture<ServerFrame>

    /// `user` has seen the outcome of their `file`: it is forgotten. Answers `ok` or an
    /// error frame.
    func forget(by user: String, file: String, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame>

    /// The outcomes of `user`'s files they have not acknowledged yet, to send after login.
    func pendingOutcomes(for user: String, on loop: EventLoop) -> EventLoopFuture<[ServerFrame]>
}
