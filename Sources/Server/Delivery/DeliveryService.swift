import Foundation
import Logging
import NIOCore
import Shared

/// Chat delivery: live to a paired partner, otherwise into the recipient's durable inbox;
/// acknowledgements, receipts, summaries and expiry; and the check that a partner's identity
/// key is still the one their `chat` reported.
///
/// Durability rule: a sender hears "stored" only after `InboxStore.append` answered
/// `.stored`, which is after the sync. Store calls never block the caller's thread: the
/// stores do their blocking work on threads of their own. Every method's future completes
/// on the caller's event loop.
final class DeliveryService: SessionDelivery {
    /// Longest message body accepted, in UTF-8 bytes.
    static let maximumBodyBytes = ChatMessage.maximumBodyBytes

    private let inbox: InboxStore
    private let accounts: AccountStore
    private let keys: KeyDirectory
    private let registry: any Presence<SessionMailbox>
    private let expiry: TimeInterval
    /// What each session may hold live and unacknowledged: the inbox's caps.
    private let liveWindow: InboxLimits
    private let logger: Logger
    private let now: @Sendable () -> Date
    /// Inbox appends not finished yet; shutdown waits for them so nothing accepted is lost.
    private let storesInFlight = InFlightWork()
    /// Relays from the inbox running (`storedElsewhere`), and whether another was asked for
    /// meanwhile.
    private let relays = Locked<[RelayKey: Bool]>([:])

    private struct RelayKey: Hashable {
        let sessionID: UInt64
        let sender: String
    }

    init(
        inbox: InboxStore,
        accounts: AccountStore,
        keys: KeyDirectory,
        registry: any Presence<SessionMailbox>,
        expiry: TimeInterval,
        liveWindow: InboxLimits,
        logger: Logger,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.inbox = inbox
        self.accounts = accounts
        self.keys = keys
        self.registry = registry
        self.expiry = expiry
        self.liveWindow = liveWindow
        self.logger = logger
        self.now = now
    }

    func mailbox(username: String, sessionID: UInt64, channel: Channel) -> SessionMailbox {
        SessionMailbox(username: username, sessionID: sessionID, liveWindow: liveWindow, channel: channel)
    }

    // MARK: - Sending

    /// Sends `body` from the user of `outbox` to whomever they have chosen. Answers with the
    /// receipt (`sent` when handed to a paired partner live, `stored` once synced to the
    /// inbox) or an error frame (`not_chatting`, `invalid_message`, `identity_changed`,
    /// `inbox_full`, `not_stored`).
    func send(from outbox: SessionMailbox, body: String, requestID: Int, on loop: EventLoop) -> SendAnswer {
        let (route, reported, verifiedAt) = outbox.sendingRoute
        guard let recipient = route.choice else {
            return .now(.error(ProtocolError(.notChatting, id: requestID)))
        }
        guard (1...Self.maximumBodyBytes).contains(body.utf8.count) else {
            return .now(.error(ProtocolError(.invalidMessage, id: requestID)))
        }
        // Encrypted for a key the partner no longer holds (they reinstalled): they could not
        // read it. From the directory's copy, not the disk: `chat` put the key there. A copy
        // that has forgotten it (a publish failed) refuses too, and the next `chat` reloads it.
        // Looked up once, then again only after the copy has changed (its change count moved).
        let keyChanges = keys.changeCount
        guard let reported, reported.partner == recipient,
            verifiedAt == keyChanges
                || keys.cachedIdentity(of: recipient) == KeyDirectory.KnownIdentity(key: reported.key)
        else {
            return .now(
                .error(
                    ProtocolError(
                        .identityChanged, message: "\(recipient)'s identity key changed; open the chat again", id: requestID)))
        }
        if verifiedAt != keyChanges { outbox.identityVerified(reported, at: keyChanges) }
        // Any text goes: newlines make multi-line messages, and what could rewrite a screen
        // (escape sequences, bidirectional overrides) is the displaying client's to neutralise,
        // as it will have to be once bodies are end-to-end encrypted.
        let message = StoredMessage(
            id: MessageID.next(), from: outbox.username, to: recipient, body: body,
            sentAtMilliseconds: Int64((now().timeIntervalSince1970 * 1000).rounded(.down)))
        if let partner = route.partner, partner.deliver(message, fromInbox: false, sender: outbox) {
            return .now(.receipt(id: requestID, messageID: message.id, status: .sent))
        }
        return .later(store(message, on: loop).map { result -> ServerFrame in
            switch result {
            case .stored:
                return .receipt(id: requestID, messageID: message.id, status: .stored)
            case .full(let reason):
                return .error(ProtocolError(.inboxFull, message: "\(reason); message not stored", id: requestID))
            }
        }.recover { error in
            .error(ProtocolError(.notStored, id: requestID))
        })
    }

    /// Appends to the inbox (synced), then tells the recipient: live if they have paired with
    /// the sender meanwhile, else a one-line notice if they are online.
    ///
    /// The append takes its place in the inbox before this returns (`startedNow`), so one
    /// session's messages are stored in the order they were sent, while the store commits
    /// every append that arrives during a sync with the next one.
    private func store(
        _ message: StoredMessage, space: InboxSpace = .withinCaps, on loop: EventLoop
    ) -> EventLoopFuture<InboxAppendResult> {
        let inbox = self.inbox
        let logger = self.logger
        let storesInFlight = self.storesInFlight
        storesInFlight.begin()
        let appended = Self.startedNow(on: loop) { () async throws -> InboxAppendResult in
            do {
                return try await inbox.append(message, space: space)
            } catch {
                logger.error("message not stored: \(error)", metadata: ["to": "\(message.to)"])
                throw error
            }
        }
        // Counted down however it ends.
        appended.whenComplete { _ in storesInFlight.end() }
        return appended.map { [registry] result in
            if result == .stored {
                if let partner = registry.livePartner(from: message.from, to: message.to) {
                    _ = partner.deliver(message, fromInbox: true)
                } else if let online = registry.session(for: message.to) {
                    online.send(.notice(code: .newMessage, message: ChatText.newMessages(1, from: message.from)))
                } else {
                    registry.announceStored(message)
                }
            }
            return result
        }
    }

    /// A message from `sender` was stored for the user of `recipient` on another node (its
    /// node told this one): paired with the sender, the session gets every message waiting
    /// from them that it has not had yet, from the inbox; otherwise a one-line notice.
    ///
    /// Reads for one session and sender run one at a time, and a read asked for while one
    /// runs becomes one more read after it: each read returns everything waiting, oldest
    /// first, so a burst of announcements costs a few reads, and messages keep their order.
    func storedElsewhere(for recipient: SessionMailbox, from sender: String) {
        let route = recipient.route
        guard route.choice == sender, route.isPaired else {
            recipient.send(.notice(code: .newMessage, message: ChatText.newMessages(1, from: sender)))
            return
        }
        let key = RelayKey(sessionID: recipient.sessionID, sender: sender)
        let starts = relays.withLock { relays in
            guard relays[key] == nil else {
                relays[key] = true
                return false
            }
            relays[key] = false
            return true
        }
        guard starts else { return }
        let inbox = self.inbox
        let relays = self.relays
        let logger = self.logger
        Task {
            repeat {
                do {
                    for message in try await inbox.messages(for: recipient.username, from: sender) {
                        _ = recipient.deliver(message, fromInbox: true)
                    }
                } catch {
                    // They stay in the inbox: the next chat opened with the sender has them.
                    logger.warning("messages stored on another node not relayed: \(error)", metadata: ["to": "\(recipient.username)"])
                }
            } while relays.withLock { relays in
                // Asked again meanwhile: one more read; otherwise done.
                if relays[key] == true {
                    relays[key] = false
                    return true
                }
                relays[key] = nil
                return false
            }
        }
    }

    // MARK: - Opening a chat

    /// Opens `user`'s chat with `partner`: checks the partner exists, delivers the messages
    /// waiting from them (oldest first, original times), then records the choice and tells
    /// everyone concerned. Answers `ok` or an error frame.
    func openChat(partner rawPartner: String, requestID: Int, mailbox outbox: SessionMailbox, on loop: EventLoop)
        -> EventLoopFuture<ServerFrame>
    {
        let user = outbox.username
        guard let partner = try? Username(rawPartner).value else {
            return loop.makeSucceededFuture(.error(ProtocolError(.unknownUser, message: "no such user: \(rawPartner)", id: requestID)))
        }
        guard partner != user else {
            return loop.makeSucceededFuture(
                .error(ProtocolError(.invalidField, message: "you cannot chat with yourself", id: requestID)))
        }
        let accounts = self.accounts
        let inbox = self.inbox
        let keys = self.keys
        let cutoff = now().addingTimeInterval(-expiry)
        return loop.makeFutureWithTask {
            () async throws -> (exists: Bool, identityKey: [UInt8]?, expired: Int, waiting: [StoredMessage]) in
            guard try await accounts.find(username: partner) != nil else { return (false, nil, 0, []) }
            // Into the directory's copy, where `send` checks it.
            let identityKey = try await keys.identityKey(for: partner)
            let expired = try await inbox.expire(recipient: user, before: cutoff)
            return (true, identityKey, expired, try await inbox.messages(for: user, from: partner))
        }.flatMap { [registry] found -> EventLoopFuture<ServerFrame> in
            guard found.exists else {
                return loop.makeSucceededFuture(
                    .error(ProtocolError(.unknownUser, message: "no such user: \(partner)", id: requestID)))
            }
            if found.expired > 0 {
                outbox.send(.notice(code: .expired, message: ChatText.expired(found.expired)))
            }
            // Waiting messages first, so they are shown before anything live.
            for message in found.waiting {
                _ = outbox.deliver(message, fromInbox: true)
            }
            // Before the choice is made, so the choice never stands without its key.
            outbox.reportIdentity(found.identityKey, of: partner)
            return Self.startedNow(on: loop) {
                try await registry.choose(username: user, partner: partner)
            }.map { outcome in
                self.chose(
                    partner, outcome: outcome, waiting: found.waiting, identityKey: found.identityKey, requestID: requestID,
                    outbox: outbox, on: loop)
            }
        }.recover { error in
            .error(ProtocolError(.internal, message: "could not open the chat; try again", id: requestID))
        }
    }

    /// Tells everyone concerned what `outbox`'s user choosing `partner` did, and answers the
    /// `chat` with `ok`.
    private func chose(
        _ partner: String, outcome: ChoiceOutcome, waiting: [StoredMessage], identityKey: [UInt8]?, requestID: Int,
        outbox: SessionMailbox, on loop: EventLoop
    ) -> ServerFrame {
        let user = outbox.username
        outcome.abandoned?.send(.notice(code: .partnerLeft, message: "\(user) left the chat"))
        if outcome.paired {
            outbox.send(.notice(code: .paired, message: "now chatting with \(partner)"))
            outcome.partner?.send(.notice(code: .paired, message: "now chatting with \(user)"))
            // A message stored between the read above and the pairing went neither live
            // nor into that read: look once more, for those only. (The ones read above
            // are delivered already; some may be acknowledged and their removal still
            // queued, so "pending in the outbox" alone would send them twice.)
            let delivered = Set(waiting.map(\.id))
            deliverWaiting(for: user, from: partner, excluding: delivered, to: outbox, on: loop)
        } else {
            outbox.send(
                .notice(
                    code: .waiting,
                    message: "\(partner) is "
                        + (outcome.partner == nil ? "offline" : "not chatting with you yet")
                        + "; messages will wait in their inbox"))
            outcome.partner?.send(.notice(code: .invited, message: ChatText.invited(by: user)))
        }
        return .ok(id: requestID, username: partner, identityKey: identityKey)
    }

    private func deliverWaiting(
        for user: String, from partner: String, excluding delivered: Set<String>, to outbox: SessionMailbox,
        on loop: EventLoop
    ) {
        let inbox = self.inbox
        loop.makeFutureWithTask {
            try await inbox.messages(for: user, from: partner)
        }.whenSuccess { waiting in
            for message in waiting where !delivered.contains(message.id) {
                _ = outbox.deliver(message, fromInbox: true)
            }
        }
    }

    /// The user of `mailbox` ends their chat; their partner is told. Answers `ok`, or
    /// `internal` when shared presence could not be written.
    func leave(_ mailbox: SessionMailbox, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame> {
        let user = mailbox.username
        let logger = self.logger
        return Self.startedNow(on: loop) { [registry] in
            try await registry.leave(username: user)
        }.map { partner -> ServerFrame in
            partner?.send(.notice(code: .partnerLeft, message: "\(user) left the chat"))
            return .ok(id: requestID)
        }.recover { error in
            logger.error("could not leave the chat: \(error)", metadata: ["user": "\(user)"])
            return .error(ProtocolError(.internal, message: "could not leave the chat; try again", id: requestID))
        }
    }

    /// Every other logged-in user, on every node; answers `who` or `internal`.
    func who(except user: String, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame> {
        Self.startedNow(on: loop) { [registry] in
            try await registry.who(except: user)
        }.map { users in
            .who(id: requestID, users: users)
        }.recover { _ in
            .error(ProtocolError(.internal, message: "who is online could not be read; try again", id: requestID))
        }
    }

    /// Makes `mailbox` its user's session: an older session of the same user is displaced
    /// (and its partner told). Answers what follows the login's `ok`: the inbox summary,
    /// then an `invited` notice for each online user who has chosen this one (chosen while
    /// offline, it is said now, as it would have been). Fails when shared presence could not
    /// be written: the session must end.
    func sessionStarted(_ mailbox: SessionMailbox, on loop: EventLoop) -> EventLoopFuture<[ServerFrame]> {
        let logger = self.logger
        return Self.startedNow(on: loop) { [registry] in
            try await registry.claim(mailbox)
        }.flatMapError { error in
            logger.error("login not recorded in presence: \(error)", metadata: ["user": "\(mailbox.username)"])
            return loop.makeFailedFuture(error)
        }.flatMap { claimed in
            claimed.displaced?.fire(.displaced)
            claimed.abandonedPartner?.send(
                .notice(code: .partnerLeft, message: "\(mailbox.username) logged in elsewhere and left the chat"))
            let invitations = claimed.choosers.map { chooser in
                ServerFrame.notice(code: .invited, message: ChatText.invited(by: chooser))
            }
            return self.summary(for: mailbox.username, requestID: nil, on: loop).map { [$0] + invitations }
        }
    }

    // MARK: - Acknowledgements and summaries

    /// The client of `mailbox` has shown everything up to `seq`: drop those that came from
    /// the inbox from it, and tell each sender, in one `delivered` per sender session.
    func acknowledge(upTo seq: Int, mailbox: SessionMailbox) {
        let entries = mailbox.acknowledge(upTo: seq)
        guard !entries.isEmpty else { return }
        // Most often one sender (the partner) and one frame. A live message goes to the
        // session that sent it unless that has ended since; else, as for stored ones, to
        // the sender's current session, if any (the registry knows).
        var bySession: [(session: SessionMailbox?, sender: String, ids: [String])] = []
        var stored: [StoredMessage] = []
        // By index: each element read in place, not copied whole (its strings retained).
        for index in entries.indices {
            if entries[index].fromInbox { stored.append(entries[index].message) }
            let session = entries[index].sender
            let from = entries[index].message.from
            if let group = bySession.firstIndex(where: { $0.session === session && $0.sender == from }) {
                bySession[group].ids.append(entries[index].message.id)
            } else {
                var ids: [String] = []
                ids.reserveCapacity(entries.count)
                ids.append(entries[index].message.id)
                bySession.append((session, from, ids))
            }
        }
        if !stored.isEmpty {
            // Started at once (see `startedNow`), so the removals are queued before this
            // returns, and so before a shutdown closes the store; not synced on their own
            // (see `InboxStore`).
            let inbox = self.inbox
            let logger = self.logger
            Task.immediate {
                for message in stored {
                    do {
                        try await inbox.remove(recipient: message.to, id: message.id)
                    } catch {
                        // Kept, so delivered again next time; the client drops the duplicate.
                        logger.warning("acknowledged message not removed: \(error)")
                    }
                }
            }
        }
        for group in bySession {
            let receipt = ServerFrame.delivered(messageIDs: group.ids)
            if group.session?.send(receipt) != true {
                registry.reach(group.sender)?.send(receipt)
            }
        }
    }

    /// Waiting messages per sender for `user`, after dropping expired ones.
    func summary(for user: String, requestID: Int?, on loop: EventLoop) -> EventLoopFuture<ServerFrame> {
        let inbox = self.inbox
        let cutoff = now().addingTimeInterval(-expiry)
        return loop.makeFutureWithTask {
            let expired = try await inbox.expire(recipient: user, before: cutoff)
            return ServerFrame.inbox(id: requestID, counts: try await inbox.counts(for: user), expired: expired)
        }.recover { _ in
            // Never an empty summary: "no new messages" would be a lie.
            .error(ProtocolError(.internal, message: "your inbox could not be read; try /inbox later", id: requestID))
        }
    }

    // MARK: - Sessions ending

    /// A session ended: live messages its client never acknowledged go to the inbox, in the
    /// space reserved for them when they were accepted (their senders hear "stored" once
    /// synced, or "not stored" if the store fails), and its partner is told.
    func sessionEnded(_ outbox: SessionMailbox, disconnected: Bool) {
        let loop = outbox.eventLoop
        let unacknowledged = outbox.close().filter { !$0.fromInbox }.map(\.message)
        let user = outbox.username
        let logger = self.logger
        Self.startedNow(on: loop) { [registry] in
            try await registry.release(username: user, sessionID: outbox.sessionID)
        }.whenComplete { result in
            switch result {
            case .success(let partner):
                partner?.send(
                    disconnected
                        ? PairingNotice.disconnected(user) : .notice(code: .partnerLeft, message: "\(user) left"))
            case .failure(let error):
                logger.error("logout not recorded in presence: \(error)", metadata: ["user": "\(user)"])
            }
        }
        for message in unacknowledged {
            store(message, space: .reserved, on: loop).whenComplete { [registry] result in
                let sender = registry.reach(message.from)
                switch result {
                case .success(.stored):
                    sender?.send(.receipt(id: nil, messageID: message.id, status: .stored))
                case .success(.full), .failure:
                    sender?.send(
                        .error(ProtocolError(.notStored, message: "your message \(Self.preview(message)) could not be stored")))
                }
            }
        }
    }

    /// Returns once no inbox append is running (shutdown waits for this before closing the
    /// stores; removals need no wait, being queued in the store before `acknowledge`
    /// returns), or after `limit` if the store is stuck.
    func waitForStores(upTo limit: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [storesInFlight] in await storesInFlight.waitUntilIdle() }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Runs `body`, which writes to the inbox, in a task started at once on the calling
    /// thread; the future completes on `loop`.
    ///
    /// `Task.immediate` rather than `loop.makeFutureWithTask`, whose task is scheduled and
    /// may start after one created later: this one runs here until its first suspension,
    /// so the write takes its place in the store before this returns (see `InboxStore`),
    /// and a session's messages keep the order it sent them in. Reads need no such order
    /// and use `makeFutureWithTask`.
    private static func startedNow<Value: Sendable>(
        on loop: EventLoop, _ body: @escaping @Sendable () async throws -> Value
    ) -> EventLoopFuture<Value> {
        let promise = loop.makePromise(of: Value.self)
        Task.immediate {
            do {
                promise.succeed(try await body())
            } catch {
                promise.fail(error)
            }
        }
        return promise.futureResult
    }

    /// Names a message for its own sender: recipient and the start of the text.
    static func preview(_ message: StoredMessage) -> String {
        let start = message.body.prefix(30)
        return "to \(message.to) (\"\(start)\(message.body.count > 30 ? "..." : "")\")"
    }
}
