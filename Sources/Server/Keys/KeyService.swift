import Logging
import NIOCore
import Shared

/// The key frames' work: publishing, handing out bundles, and the login's report, over the
/// `KeyDirectory`; failures become the error frames a session sends.
final class KeyService: SessionKeys {
    /// Fewer one-time prekeys than this left after a fetch, and the owner is told to publish
    /// more: enough for the sessions others start before the owner's client tops up.
    static let lowPreKeys = 10

    private let directory: KeyDirectory
    private let accounts: any AccountStore
    /// Sends a frame to a user's session, if they are online on this server.
    private let notify: @Sendable (_ username: String, _ frame: ServerFrame) -> Void
    private let logger: Logger

    init(
        directory: KeyDirectory, accounts: any AccountStore,
        notify: @escaping @Sendable (_ username: String, _ frame: ServerFrame) -> Void, logger: Logger
    ) {
        self.directory = directory
        self.accounts = accounts
        self.notify = notify
        self.logger = logger
    }

    func publish(_ keys: PublishedKeys, username: String, requestID: Int, on loop: EventLoop)
        -> EventLoopFuture<ServerFrame>
    {
        let directory = self.directory
        let logger = self.logger
        return loop.makeFutureWithTask { () async -> ServerFrame in
            do {
                let count = try await directory.publish(keys, username: username)
                logger.info(
                    "keys published", metadata: ["user": "\(username)", "prekeys": "\(keys.preKeys.count)", "stored": "\(count)"])
                return .ok(id: requestID, preKeys: count)
            } catch let error as KeyStoreError {
                return .error(ProtocolError(.tooManyPreKeys, message: error.description, id: requestID))
            } catch {
                logger.error("keys not published: \(error)", metadata: ["user": "\(username)"])
                return .error(ProtocolError(.internal, message: "your keys could not be stored; try again", id: requestID))
            }
        }
    }

    func fetch(_ rawTarget: String, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame> {
        // Worded as `chat` words it, for a name no account can have too.
        let unknown = ServerFrame.error(ProtocolError(.unknownUser, message: "no such user: \(rawTarget)", id: requestID))
        guard let target = try? Username(rawTarget).value else {
            return loop.makeSucceededFuture(unknown)
        }
        let directory = self.directory
        let accounts = self.accounts
        let notify = self.notify
        let logger = self.logger
        return loop.makeFutureWithTask { () async -> ServerFrame in
            do {
                guard try await accounts.find(username: target) != nil else {
                    return .error(ProtocolError(.unknownUser, message: "no such user: \(target)", id: requestID))
                }
                guard let bundle = try await directory.takeBundle(username: target) else {
                    return .error(ProtocolError(.noKeys, message: "\(target) has not published any keys", id: requestID))
                }
                if bundle.remainingPreKeys < Self.lowPreKeys {
                    notify(target, .notice(code: .preKeysLow, message: Self.lowPreKeysText(bundle.remainingPreKeys)))
                }
                return .keys(id: requestID, bundle: bundle.published(username: target))
            } catch {
                logger.error("keys not handed out: \(error)", metadata: ["of": "\(target)"])
                return .error(ProtocolError(.internal, message: "\(target)'s keys could not be read; try again", id: requestID))
            }
        }
    }

    func ownKeys(username: String, requestID: Int, on loop: EventLoop) -> EventLoopFuture<OwnKeys> {
        let directory = self.directory
        let logger = self.logger
        return loop.makeFutureWithTask { () async throws -> OwnKeys in
            do {
                // Through the directory, so the user's key is in its copy for their partners'
                // sends.
                guard let identityKey = try await directory.identityKey(for: username) else {
                    return .none
                }
                return OwnKeys(identityKey: identityKey, preKeyCount: try await directory.preKeyCount(username: username) ?? 0)
            } catch {
                // Not "no keys": that would have the client publish an identity afresh.
                logger.error("keys not read at login: \(error)", metadata: ["user": "\(username)"])
                throw ProtocolError(.internal, message: "your keys could not be read; try again", id: requestID)
            }
        }
    }

    /// "3 one-time prekeys left; publish more".
    static func lowPreKeysText(_ count: Int) -> String {
        "\(count) one-time prekey\(count == 1 ? "" : "s") left; publish more"
    }
}
