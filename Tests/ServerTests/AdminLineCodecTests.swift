import Foundation
import Testing

@testable import Server

/// The admin socket's line protocol (docs/ADMIN.md) without a socket: every request and
/// reply survives its lines, values with spaces, `%`, line breaks and non-ASCII stay whole, and
/// lines out of shape are refused with a reason.
@Suite("Admin socket line codec")
struct AdminLineCodecTests {
    static let requests: [AdminRequest] = [
        .users, .stats, .lock("alice"), .unlock("bob"), .delete("carol.d-1"), .resetPassword("dave_2"),
    ]

    @Test("every request is one line and reads back as itself", arguments: requests)
    func requestRoundTrip(_ request: AdminRequest) throws {
        let line = AdminLineCodec.encode(request)
        #expect(!line.contains("\n"))
        #expect(try AdminLineCodec.decodeRequest(line) == request)
    }

    @Test("the documented request lines")
    func documentedRequests() throws {
        #expect(AdminLineCodec.encode(.lock("alice")) == "lock alice")
        #expect(AdminLineCodec.encode(.resetPassword("alice")) == "reset-password alice")
        #expect(AdminLineCodec.encode(.users) == "users")
        #expect(try AdminLineCodec.decodeRequest("  lock   alice ") == .lock("alice"))
    }

    @Test(
        "malformed requests are invalid_request, naming the line",
        arguments: ["", "dance", "lock", "users alice", "lock alice bob", "reset-password", "LOCK alice"])
    func malformedRequests(_ line: String) {
        #expect {
            try AdminLineCodec.decodeRequest(line)
        } throws: { error in
            (error as? AdminFailure)?.code == .invalidRequest
        }
    }

    static let created = Date(timeIntervalSince1970: 1_796_638_491)

    static let replies: [(AdminRequest, AdminReply)] = [
        (.users, .users([])),
        (
            .users,
            .users([
                UserSummary(
                    username: "alice", createdAt: created, lastLoginAt: created.addingTimeInterval(3_600),
                    inbox: InboxUsage(messages: 3, bytes: 1_204), isLocked: false, mustChangePassword: true),
                UserSummary(
                    username: "bob", createdAt: created, lastLoginAt: nil, inbox: InboxUsage(), isLocked: true,
                    mustChangePassword: false),
            ])
        ),
        (
            .stats,
            .statistics(
                ServerStatistics(
                    sessions: 2, accounts: 5, lockedAccounts: 1, inboxes: 2, inbox: InboxUsage(messages: 7, bytes: 900),
                    fileRecipients: 1, fileBytes: 10_485_760,
                    store: "GDBM files in /var/lib/chat 100% mine\nreally", storeBytes: 73_728))
        ),
        (
            .stats,
            .statistics(
                ServerStatistics(
                    sessions: 0, accounts: 0, lockedAccounts: 0, inboxes: 0, inbox: InboxUsage(), fileRecipients: 0, fileBytes: 0,
                    store: "PostgreSQL database chat@/run/postgresql/chat", storeBytes: 8_000_000))
        ),
        (.resetPassword("alice"), .oneTimePassword(username: "alice", password: "Kq7d-mPz4-a b%c-ü", session: nil)),
        (
            .resetPassword("alice"),
            .oneTimePassword(username: "alice", password: "Kq7d-mPz4-abcd-efgh", session: "their session was closed")
        ),
        (.lock("alice"), .done("alice is locked; their session was closed")),
        (.delete("bob"), .done("bob is deleted: account, 100% gone\nsecond line")),
        (.delete("bob"), .done("")),
        (.lock("zed"), .failed(AdminFailure(code: .unknownUser, message: "no such user: zed"))),
        (.users, .failed(AdminFailure(code: .storage, message: "the store failed: disk\nfull, 100%"))),
        (.stats, .failed(AdminFailure(code: .refused, message: "only the server's user and root may administer it"))),
    ]

    @Test("every reply reads back as itself from its lines, the final one last")
    func replyRoundTrip() throws {
        for (request, reply) in Self.replies {
            let lines = AdminLineCodec.encode(reply)
            #expect(lines.allSatisfy { !$0.contains("\n") && !$0.isEmpty }, "\(lines)")
            #expect(AdminLineCodec.isFinal(try #require(lines.last)))
            #expect(lines.dropLast().allSatisfy { !AdminLineCodec.isFinal($0) }, "\(lines)")
            #expect(try AdminLineCodec.decodeReply(lines, to: request) == reply)
        }
    }

    @Test("the documented user and stats lines")
    func documentedLines() {
        let lines = AdminLineCodec.encode(
            .users([
                UserSummary(
                    username: "bob", createdAt: Self.created, lastLoginAt: nil, inbox: InboxUsage(messages: 2, bytes: 611),
                    isLocked: true, mustChangePassword: false)
            ]))
        #expect(
            lines == [
                "user name=bob created=2026-12-07T10:14:51Z last_login=- inbox_messages=2 inbox_bytes=611 locked=yes must_change_password=no",
                "ok",
            ])
        let stats = AdminLineCodec.encode(
            .statistics(
                ServerStatistics(
                    sessions: 1, accounts: 2, lockedAccounts: 1, inboxes: 1, inbox: InboxUsage(messages: 2, bytes: 611),
                    fileRecipients: 1, fileBytes: 65_536, store: "GDBM files in /var/lib/chat", storeBytes: 73_728)))
        #expect(
            stats.first
                == "stats sessions=1 accounts=2 locked=1 inboxes=1 inbox_messages=2 inbox_bytes=611 file_recipients=1 file_bytes=65536 store=GDBM%20files%20in%20/var/lib/chat store_bytes=73728"
        )
    }

    @Test("keys a reader does not know are ignored")
    func unknownKeysIgnored() throws {
        let lines = [
            "user name=alice created=2026-12-07T10:14:51Z last_login=- inbox_messages=0 inbox_bytes=0 locked=no must_change_password=no colour=blue",
            "ok",
        ]
        guard case .users(let users) = try AdminLineCodec.decodeReply(lines, to: .users) else {
            Issue.record("not a users reply")
            return
        }
        #expect(users.map(\.username) == ["alice"])
    }

    @Test("a reply cut short, a missing field or a bad value is refused with a reason")
    func malformedReplies() {
        let cases: [([String], AdminRequest)] = [
            ([], .users),
            (["user name=alice"], .users),
            (["user name=alice", "ok"], .users),
            (["user name=alice created=yesterday last_login=- inbox_messages=0 inbox_bytes=0 locked=no must_change_password=no", "ok"], .users),
            (["user name=alice created=2026-12-07T10:14:51Z last_login=- inbox_messages=-1 inbox_bytes=0 locked=no must_change_password=no", "ok"], .users),
            (["user name=alice created=2026-12-07T10:14:51Z last_login=- inbox_messages=0 inbox_bytes=0 locked=maybe must_change_password=no", "ok"], .users),
            (["ok"], .stats),
            (["ok"], .resetPassword("alice")),
            (["user oops", "ok"], .users),
        ]
        for (lines, request) in cases {
            #expect(throws: AdminLineCodec.DecodingError.self, "\(lines)") {
                try AdminLineCodec.decodeReply(lines, to: request)
            }
        }
    }

    @Test("escaping keeps every byte and leaves plain text alone")
    func escaping() {
        for text in ["plain", "", "a b", "100%", "%20 is a space", "line\nbreak\r\ttab", "ümlaut and 👋", "%zz%4"] {
            #expect(AdminLineCodec.unescape(AdminLineCodec.escape(text)) == text, "\(text)")
            let escaped = AdminLineCodec.escape(text)
            #expect(!escaped.contains(" ") && !escaped.contains("\n"), "\(escaped)")
        }
        #expect(AdminLineCodec.escape("plain/path-1.2") == "plain/path-1.2")
        #expect(AdminLineCodec.escape("a b%") == "a%20b%25")
    }
}
