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
        let storing = outbox.storing.value
        if storing.last == nil, let partner = route.partner, partner.deliver(message, fromInbox: false, sender: outbox) {
            return .now(.receipt(id: requestID, messageID: message.id, status: .sent))
        }
        // Going live now would overtake the session's messages still being stored: it
        // waits for them instead, then goes live if it can. So one message that had to be
        // stored (the live window was full, say) holds up only those sent while it was
        // stored, not every message after it while the sender keeps sending. One the partner
        // could not take now anyway (stalled, window still full) is stored at once, beside
        // the others, in one sync.
        let waits = storing.last != nil && (storing.waiting > 0 || route.partner?.wouldTakeLive(message) == true)
        let routed =
            waits
            ? afterStores(message, from: outbox, on: loop)
            : storeInOrder(message, from: outbox, on: loop).map { Routed.appended($0) }
        return .later(routed.map { routed -> ServerFrame in
            switch routed {
            case .live:
                return .receipt(id: requestID, messageID: message.id, status: .sent)
            case .appended(.stored):
                return .receipt(id: requestID, messageID: message.id, status: .stored)
            case .appended(.full(let reason)):
                return .error(ProtocolError(.inboxFull, message: "\(reason); message not stored", id: requestID))
            }
        }.recover { error in
            .error(ProtocolError(.notStored, id: requestID))
        })
    }

    /// Where a message sent went: live to the partner, or into the inbox.
    private enum Routed {
        case live
        case appended(InboxAppendResult)
    }

    /// Routes `message` once the session's messages before it have been stored and followed
    /// up: live if its recipient is still the sender's partner and takes it (room in the live
    /// window, reading), else into the inbox, in turn like `storeInOrder`. Its append, if
    /// any, starts only then, so messages sent while it waits wait too (`waiting`): they
    /// would otherwise be stored ahead of it.
    private func afterStores(
        _ message: StoredMessage, from outbox: SessionMailbox, on loop: EventLoop
    ) -> EventLoopFuture<Routed> {
        let storing = outbox.storing
        guard let previous = storing.value.last else { preconditionFailure("afterStores without stores pending") }
        storing.value.waiting += 1
        // Counted as a store from now on: shutdown waits for it as for an append started.
        storesInFlight.begin()
        let routed = previous.flatMap { () -> EventLoopFuture<Routed> in
            storing.value.waiting -= 1
            let route = outbox.route
            if route.choice == message.to, let partner = route.partner,
                partner.deliver(message, fromInbox: false, sender: outbox)
            {
                return loop.makeSucceededFuture(.live)
            }
            return self.store(message, on: loop).map { .appended($0) }
        }
        let storesInFlight = self.storesInFlight
        Self.takeTurn(routed, in: storing).whenComplete { _ in storesInFlight.end() }
        return routed
    }

    /// Makes `step` the last of the session's messages in turn (`StoresInOrder.last`), until
    /// it is done; returns it as a future that never fails.
    private static func takeTurn(
        _ step: EventLoopFuture<some Any>, in storing: NIOLoopBoundBox<StoresInOrder>
    ) -> EventLoopFuture<Void> {
        let last = step.map { _ in }.recover { _ in }
        storing.value.last = last
        last.whenComplete { _ in
            // The newest one done: so is every one before it (each waited for the one before).
            if storing.value.last === last { storing.value.last = nil }
        }
        return last
    }

    /// `store`, for a message `outbox`'s session sent: its follow-up waits for the one of
    /// the session's message before it. A session may have several sends running (see
    /// `SessionStateMachine`), and their appends may finish in any order (a store answers a
    /// batch from its own thread), but the recipient sees them in the order they were sent.
    private func storeInOrder(
        _ message: StoredMessage, from outbox: SessionMailbox, on loop: EventLoop
    ) -> EventLoopFuture<InboxAppendResult> {
        let appended = append(message, space: .withinCaps, on: loop)
        let storing = outbox.storing
        let previous = storing.value.last
        let inTurn = previous.map { $0.flatMap { appended } } ?? appended
        let followedUp = inTurn.map { self.followUp(message, $0) }
        _ = Self.takeTurn(followedUp, in: storing)
        return followedUp
    }

    /// Appends to the inbox (synced), then tells the recipient: live if they have paired with
    /// the sender meanwhile, else a one-line notice if they are online.
    private func store(
        _ message: StoredMessage, space: InboxSpace = .withinCaps, on loop: EventLoop
    ) -> EventLoopFuture<InboxAppendResult> {
        append(message, space: space, on: loop).map { self.followUp(message, $0) }
    }

    /// The append alone. It takes its place in the inbox before this returns
    /// (`makeFutureStartedNow`), so one session's messages are stored in the order they were
    /// sent, while the store commits every append that arrives during a sync with the next one.
    private func append(
        _ message: StoredMessage, space: InboxSpace, on loop: EventLoop
    ) -> EventLoopFuture<InboxAppendResult> {
        let inbox = self.inbox
        let logger = self.logger
        let storesInFlight = self.storesInFlight
        storesInFlight.begin()
        let appended = loop.makeFutureStartedNow { () async throws -> InboxAppendResult in
            do {
                return try await inbox.append(message, space: space)
            } catch {
                logger.error("message not stored: \(error)", metadata: ["to": "\(message.to)"])
                throw error
            }
        }
        // Counted down however it ends.
        appended.whenComplete { _ in storesInFlight.end() }
        return appended
    }

    /// After an append: a stored message goes to the recipient if they are paired with the
    /// sender now, else they hear of it in one line, on whichever node they are.
    private func followUp(_ message: StoredMessage, _ result: InboxAppendResult) -> InboxAppendResult {
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
        guard recipient.beginRelay(from: sender) else { return }
        relay(to: recipient, from: sender)
    }

    /// Brings `recipient` the messages waiting from `sender` that it has not had, oldest
    /// first, once `recipient.beginRelay(from:)` said to: reads the inbox, and again for as
    /// long as more was asked for meanwhile (by `storedElsewhere`, or a stored message's
    /// follow-up). While it runs, `sender`'s live messages to this session are parked until
    /// it ends and stored ones wait for it (see `SessionMailbox.deliver`), so none overtakes
    /// one still waiting. `delivered`: ids this session has had already; `readFirst` false when
    /// there is nothing to read unless asked meanwhile.
    private func relay(to recipient: SessionMailbox, from sender: String, delivered: Set<String> = [], readFirst: Bool = true) {
        let inbox = self.inbox
        let logger = self.logger
        guard readFirst || recipient.relayReadDone(from: sender) else { return }
        Task {
            var delivered = delivered
            repeat {
                do {
                    for message in try await inbox.messages(for: recipient.username, from: sender)
                    where !delivered.contains(message.id) {
                        if recipient.deliver(message, fromInbox: true, byRelay: true) { delivered.insert(message.id) }
                    }
                } catch {
                    // They stay in the inbox: the next chat opened with the sender has them.
                    logger.warning("waiting messages not relayed: \(error)", metadata: ["to": "\(recipient.username)"])
                }
            } while recipient.relayReadDone(from: sender)
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
            // A message stored after the read above went neither live nor into that read:
            // a relay from the inbox brings those once the pair stands. It holds from now,
            // so nothing the partner sends once paired is written ahead of them.
            let relayBegun = outbox.beginRelay(from: partner)
            let chosen = loop.makeFutureStartedNow {
                try await registry.choose(username: user, partner: partner)
            }
            chosen.whenComplete { result in
                guard relayBegun else { return }
                // The ones read above are delivered already; some may be acknowledged and
                // their removal still queued, so "pending in the outbox" alone would send
                // them twice.
                let paired = (try? result.get())?.paired == true
                self.relay(to: outbox, from: partner, delivered: Set(found.waiting.map(\.id)), readFirst: paired)
            }
            return chosen.map { outcome in
                self.chose(partner, outcome: outcome, identityKey: found.identityKey, requestID: requestID, outbox: outbox)
            }
        }.recover { error in
            .error(ProtocolError(.internal, message: "could not open the chat; try again", id: requestID))
        }
    }

    /// Tells everyone concerned what `outbox`'s user choosing `partner` did, and answers the
    /// `chat` with `ok`.
    private func chose(
        _ partner: String, outcome: ChoiceOutcome, identityKey: [UInt8]?, requestID: Int, outbox: SessionMailbox
    ) -> ServerFrame {
        let user = outbox.username
        outcome.abandoned?.send(.notice(code: .partnerLeft, message: "\(user) left the chat"))
        if outcome.paired {
            outbox.send(.notice(code: .paired, message: "now chatting with \(partner)"))
            outcome.partner?.send(.notice(code: .paired, message: "now chatting with \(user)"))
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

    /// The user of `mailbox` ends their chat; their partner is told. Answers `ok`, or
    /// `internal` when shared presence could not be written.
    func leave(_ mailbox: SessionMailbox, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame> {
        let user = mailbox.username
        let logger = self.logger
        return loop.makeFutureStartedNow { [registry] in
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
        loop.makeFutureStartedNow { [registry] in
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
        return loop.makeFutureStartedNow { [registry] in
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
            // Started at once (see `makeFutureStartedNow`), so the removals are queued before this
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
        loop.makeFutureStartedNow { [registry] in
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

    /// Names a message for its own sender: recipient and the start of the text.
    static func preview(_ message: StoredMessage) -> String {
        let start = message.body.prefix(30)
        return "to \(message.to) (\"\(start)\(message.body.count > 30 ? "..." : "")\")"
    }
}
