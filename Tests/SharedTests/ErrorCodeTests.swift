import Shared
import Testing

@Suite struct ErrorCodeTests {
    /// The wire names are the protocol; changing one breaks every deployed peer.
    @Test func wireNames() {
        #expect(ErrorCode.known.map(\.rawValue) == [
            "frame_too_large", "invalid_utf8", "invalid_json", "unknown_type", "missing_field",
            "invalid_field", "version_mismatch", "hello_required", "already_hello", "not_logged_in",
            "already_logged_in", "invalid_username", "invalid_password", "username_taken",
            "bad_credentials", "throttled", "too_many_errors", "internal", "unknown_user", "not_chatting",
            "invalid_message", "inbox_full", "not_stored", "rate_limited", "timed_out", "identity_changed",
            "too_many_prekeys", "no_keys", "account_locked", "password_change_required", "file_too_large",
            "files_full", "unknown_file", "file_id_taken", "chunk_out_of_order",
        ])
        #expect(NoticeCode.known.map(\.rawValue) == [
            "displaced", "shutdown", "paired", "waiting", "invited", "partner_left", "partner_disconnected",
            "new_message", "expired", "prekeys_low", "account_locked", "account_deleted", "password_reset",
        ])
    }

    @Test(arguments: ErrorCode.known)
    func knownCodesRoundTrip(_ code: ErrorCode) {
        #expect(ErrorCode(rawValue: code.rawValue) == code)
        #expect(!code.defaultMessage.isEmpty)
    }

    @Test(arguments: NoticeCode.known)
    func knownNoticeCodesRoundTrip(_ code: NoticeCode) {
        #expect(NoticeCode(rawValue: code.rawValue) == code)
        #expect(!code.defaultMessage.isEmpty)
    }

    /// The chat errors are ordinary refusals: the session goes on and they never count towards
    /// `too_many_errors`.
    @Test func chatErrorsKeepTheSession() {
        for code: ErrorCode in [.unknownUser, .notChatting, .invalidMessage, .inboxFull, .notStored] {
            #expect(!code.closesConnection, "\(code)")
            #expect(!code.countsAsBadFrame, "\(code)")
        }
    }

    @Test func unknownCodesAreKept() {
        #expect(ErrorCode(rawValue: "brand_new") == .unknown("brand_new"))
        #expect(ErrorCode.unknown("brand_new").rawValue == "brand_new")
        #expect(NoticeCode(rawValue: "brand_new") == .unknown("brand_new"))
        #expect(NoticeCode(rawValue: "displaced") == .displaced)
        #expect(!ErrorCode.unknown("x").closesConnection)
    }

    @Test func defaultMessages() {
        #expect(ErrorCode.badCredentials.defaultMessage == "wrong username or password")
        #expect(ErrorCode.internal.defaultMessage == "internal server error")
        #expect(NoticeCode.displaced.defaultMessage == "logged in from elsewhere")
        #expect(NoticeCode.shutdown.defaultMessage == "server shutting down")
        #expect(ProtocolError.throttled(retryAfter: 4).message == "too many attempts, try again in 4 s")
    }

    @Test func sessionPolicy() {
        #expect(ErrorCode.known.filter(\.closesConnection) == [.frameTooLarge, .versionMismatch, .tooManyErrors, .timedOut])
        #expect(ErrorCode.known.filter(\.countsAsBadFrame) == [
            .invalidUTF8, .invalidJSON, .unknownType, .missingField, .invalidField, .helloRequired, .alreadyHello,
        ])
    }

    @Test func agentString() {
        #expect(ProtocolVersion.current == 2)
        #expect(ProtocolVersion.agent("chat-client", version: "1.2.3") == "chat-client/1.2.3")
    }
}
