import Shared
import Testing

/// The chat frames beyond round trips: what a bad chat frame decodes to, which frames carry an id,
/// the defaults of optional fields, and that message bodies stay out of logs.
@Suite struct ChatFrameTests {
    private func clientError(_ json: String) -> ProtocolError? {
        guard case .failure(let error) = ClientFrame.decode(Array(json.utf8)) else { return nil }
        return error
    }

    private func serverError(_ json: String) -> ProtocolError? {
        guard case .failure(let error) = ServerFrame.decode(Array(json.utf8)) else { return nil }
        return error
    }

    private func server(_ json: String) -> ServerFrame? {
        guard case .success(let frame) = ServerFrame.decode(Array(json.utf8)) else { return nil }
        return frame
    }

    // MARK: Client frames

    @Test(arguments: [#"{"type":"chat","id":5}"#, #"{"type":"chat","id":5,"with":null}"#])
    func chatWithoutWith(_ json: String) {
        let error = self.clientError(json)
        #expect(error?.code == .missingField)
        #expect(error?.message.contains("'with'") == true)
        #expect(error?.id == 5)
    }

    @Test func chatWithOfTheWrongType() {
        let error = self.clientError(#"{"type":"chat","id":5,"with":["bob"]}"#)
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains("'with'") == true)
        #expect(error?.id == 5)
    }

    @Test(arguments: [#"{"type":"send","id":6}"#, #"{"type":"send","id":6,"body":null}"#])
    func sendWithoutBody(_ json: String) {
        let error = self.clientError(json)
        #expect(error?.code == .missingField)
        #expect(error?.message.contains("'body'") == true)
        #expect(error?.id == 6)
    }

    @Test func sendBodyOfTheWrongType() {
        let error = self.clientError(#"{"type":"send","id":6,"body":42}"#)
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains("'body'") == true)
        #expect(error?.id == 6)
    }

    /// Length is the server's rule (`invalid_message`), not a decoding error: an empty body decodes.
    @Test func emptyBodyDecodes() {
        #expect(ClientFrame.decode(Array(#"{"type":"send","id":6,"body":""}"#.utf8)) == .success(.send(id: 6, body: "")))
    }

    @Test(arguments: ["leave", "who", "inbox"])
    func idOnlyRequestsNeedAnID(_ type: String) {
        let error = self.clientError(#"{"type":"\#(type)"}"#)
        #expect(error?.code == .missingField)
        #expect(error?.message.contains("'id'") == true)
    }

    @Test func ackNeedsASeq() {
        let error = self.clientError(#"{"type":"ack"}"#)
        #expect(error?.code == .missingField)
        #expect(error?.message.contains("'seq'") == true)
        let wrongType = self.clientError(#"{"type":"ack","seq":"7"}"#)
        #expect(wrongType?.code == .invalidField)
        #expect(wrongType?.message.contains("'seq'") == true)
    }

    /// `ack` is the one request without an id: none is read, none is written, and an id a client
    /// adds anyway is ignored like any unknown field.
    @Test func ackHasNoID() {
        let ack = ClientFrame.ack(seq: 12)
        #expect(ack.id == nil)
        #expect(!String(decoding: ack.encode(), as: UTF8.self).contains("\"id\""))
        #expect(ClientFrame.decode(Array(#"{"type":"ack","seq":12}"#.utf8)) == .success(ack))
        #expect(ClientFrame.decode(Array(#"{"type":"ack","seq":12,"id":3}"#.utf8)) == .success(ack))
    }

    @Test func chatRequestsCarryTheirID() {
        #expect(ClientFrame.chat(id: 1, with: "bob").id == 1)
        #expect(ClientFrame.leave(id: 2).id == 2)
        #expect(ClientFrame.send(id: 3, body: "x").id == 3)
        #expect(ClientFrame.who(id: 4).id == 4)
        #expect(ClientFrame.inbox(id: 5).id == 5)
    }

    /// Message bodies are as private as passwords: logging a `send` frame must not show the text.
    @Test func sendDescriptionHidesTheBody() {
        let frame = ClientFrame.send(id: 3, body: "meet me at the secret place")
        for rendering in ["\(frame)", String(describing: frame), String(reflecting: frame), frame.debugDescription] {
            #expect(!rendering.contains("secret"), "\(rendering)")
            #expect(!rendering.contains("meet me"), "\(rendering)")
            #expect(rendering.contains("send"))
            #expect(rendering.contains("3"))
        }
    }

    @Test func deleteAccountDescriptionHidesThePassword() {
        let frame = ClientFrame.deleteAccount(id: 5, password: "my secret")
        for rendering in ["\(frame)", String(reflecting: frame)] {
            #expect(!rendering.contains("secret"), "\(rendering)")
            #expect(rendering.contains("delete_account") && rendering.contains("5"))
        }
    }

    @Test func passwdDescriptionHidesBothPasswords() {
        let frame = ClientFrame.passwd(id: 4, password: "old secret", newPassword: "new secret")
        for rendering in ["\(frame)", String(reflecting: frame)] {
            #expect(!rendering.contains("secret"), "\(rendering)")
            #expect(rendering.contains("passwd") && rendering.contains("4"))
        }
    }

    /// Nothing else about a chat frame is secret, so the other descriptions name what they carry.
    @Test func otherChatDescriptions() {
        #expect("\(ClientFrame.chat(id: 1, with: "bob"))".contains("bob"))
        #expect("\(ClientFrame.ack(seq: 42))".contains("42"))
    }

    // MARK: Server frames

    @Test(arguments: [#""1700000000000""#, "1.5", "true", "[1]", "1e300"])
    func sentAtOfTheWrongType(_ sentAt: String) {
        let error = self.serverError(
            #"{"type":"message","message_id":"m-1","from":"bob","body":"hi","sent_at":\#(sentAt),"stored":false}"#)
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains("'sent_at'") == true)
    }

    @Test(arguments: ["message_id", "from", "body", "sent_at", "seq"])
    func messageFieldMissing(_ field: String) {
        var members = [
            #""type":"message""#, #""message_id":"m-1""#, #""from":"bob""#, #""body":"hi""#, #""sent_at":1"#, #""seq":1"#,
        ]
        members.removeAll { $0.hasPrefix("\"\(field)\"") }
        let error = self.serverError("{" + members.joined(separator: ",") + "}")
        #expect(error?.code == .missingField)
        #expect(error?.message.contains("'\(field)'") == true)
    }

    @Test func storedOfTheWrongType() {
        let error = self.serverError(
            #"{"type":"message","message_id":"m-1","from":"bob","body":"hi","sent_at":1,"stored":"yes"}"#)
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains("'stored'") == true)
    }

    /// A `message` without `stored` is a live one.
    @Test func storedDefaultsToFalse() {
        let frame = self.server(#"{"type":"message","message_id":"m-1","from":"bob","body":"hi","sent_at":5,"seq":3}"#)
        #expect(frame == .message(ChatMessage(id: "m-1", from: "bob", body: "hi", sentAtMilliseconds: 5, stored: false, seq: 3)))
    }

    @Test(arguments: ["read", "SENT", "", "delivered", "delivered "])
    func unknownReceiptStatus(_ status: String) {
        let error = self.serverError(#"{"type":"receipt","id":4,"message_id":"m-1","status":"\#(status)"}"#)
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains("'status'") == true)
        #expect(error?.id == 4)
    }

    @Test func receiptStatusesAreTheDocumentedOnes() {
        #expect(ReceiptStatus.allCases.map(\.rawValue) == ["sent", "stored"])
        for status in ReceiptStatus.allCases {
            let frame = self.server(#"{"type":"receipt","message_id":"m-1","status":"\#(status.rawValue)"}"#)
            #expect(frame == .receipt(id: nil, messageID: "m-1", status: status))
        }
    }

    @Test func receiptFieldsMissing() {
        #expect(self.serverError(#"{"type":"receipt","message_id":"m-1"}"#)?.message.contains("'status'") == true)
        #expect(self.serverError(#"{"type":"receipt","status":"sent"}"#)?.message.contains("'message_id'") == true)
    }

    @Test(arguments: [#"[["bob",3]]"#, #""bob:3""#, "3", "true"])
    func countsThatAreNotAnObject(_ counts: String) {
        let error = self.serverError(#"{"type":"inbox","id":2,"counts":\#(counts),"expired":0}"#)
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains("'counts'") == true)
        #expect(error?.id == 2)
    }

    @Test(arguments: [#"{"bob":"3"}"#, #"{"bob":1.5}"#, #"{"bob":null}"#])
    func countsWithValuesThatAreNotIntegers(_ counts: String) {
        let error = self.serverError(#"{"type":"inbox","counts":\#(counts),"expired":0}"#)
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains("'counts'") == true)
    }

    @Test func countsMissing() {
        let error = self.serverError(#"{"type":"inbox","expired":0}"#)
        #expect(error?.code == .missingField)
        #expect(error?.message.contains("'counts'") == true)
    }

    /// A summary without `expired` means none expired.
    @Test func expiredDefaultsToZero() {
        #expect(self.server(#"{"type":"inbox","counts":{"bob":2}}"#) == .inbox(id: nil, counts: ["bob": 2], expired: 0))
    }

    @Test func expiredOfTheWrongType() {
        let error = self.serverError(#"{"type":"inbox","counts":{},"expired":"2"}"#)
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains("'expired'") == true)
    }

    @Test func whoFields() {
        let users = self.serverError(#"{"type":"who","id":3,"users":{"bob":"free"}}"#)
        #expect(users?.code == .invalidField)
        #expect(users?.message.contains("'users'") == true)
        #expect(self.serverError(#"{"type":"who","id":3}"#)?.code == .missingField)
        #expect(self.serverError(#"{"type":"who","users":[]}"#)?.message.contains("'id'") == true)
    }

    /// The unsolicited summary and later receipts have no id; replies do.
    @Test func serverFrameIDs() {
        #expect(ServerFrame.inbox(id: nil, counts: [:], expired: 0).id == nil)
        #expect(ServerFrame.inbox(id: 3, counts: [:], expired: 0).id == 3)
        #expect(ServerFrame.receipt(id: nil, messageID: "m", status: .stored).id == nil)
        #expect(ServerFrame.delivered(messageIDs: ["m"]).id == nil)
        #expect(ServerFrame.receipt(id: 4, messageID: "m", status: .sent).id == 4)
        #expect(ServerFrame.who(id: 5, users: []).id == 5)
        #expect(ServerFrame.message(ChatMessage(id: "m", from: "a", body: "b", sentAtMilliseconds: 0, stored: false)).id == nil)
    }

    // MARK: Codes from a newer server

    @Test(arguments: ["typing", "partner_typing", "PAIRED", ""])
    func unknownNoticeCodesDecode(_ code: String) {
        let frame = self.server(#"{"type":"notice","code":"\#(code)","message":"something new"}"#)
        #expect(frame == .notice(code: .unknown(code), message: "something new"))
    }

    @Test(arguments: ["message_too_old", "recipient_blocked", "NOT_CHATTING"])
    func unknownErrorCodesDecode(_ code: String) {
        let frame = self.server(#"{"type":"error","id":6,"code":"\#(code)","message":"something new"}"#)
        #expect(frame == .error(ProtocolError(.unknown(code), message: "something new", id: 6)))
    }

    /// The chat codes are known to this build, so they decode to their own cases.
    @Test func chatCodesAreKnown() {
        #expect(self.server(#"{"type":"notice","code":"partner_left","message":"bob left"}"#)
            == .notice(code: .partnerLeft, message: "bob left"))
        #expect(self.server(#"{"type":"error","id":1,"code":"inbox_full","message":"full"}"#)
            == .error(ProtocolError(.inboxFull, message: "full", id: 1)))
    }
}
