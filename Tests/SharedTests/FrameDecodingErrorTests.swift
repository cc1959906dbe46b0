import Shared
import Testing

/// Every class of bad input yields the documented error code, naming the culprit and echoing the
/// request id when one could be read.
@Suite struct FrameDecodingErrorTests {
    private func clientError(_ bytes: [UInt8]) -> ProtocolError? {
        guard case .failure(let error) = ClientFrame.decode(bytes) else { return nil }
        return error
    }

    private func clientError(_ json: String) -> ProtocolError? {
        self.clientError(Array(json.utf8))
    }

    private func serverError(_ json: String) -> ProtocolError? {
        guard case .failure(let error) = ServerFrame.decode(Array(json.utf8)) else { return nil }
        return error
    }

    @Test func invalidUTF8() {
        #expect(self.clientError([0xFF, 0xFE])?.code == .invalidUTF8)
        // Overlong encoding of "/", a classic filter bypass.
        #expect(self.clientError([0xC0, 0xAF])?.code == .invalidUTF8)
    }

    @Test func truncatedMultiByteUTF8() {
        // "é" is C3 A9; only its first byte is sent, once inside a string and once at the very end.
        let inside = Array(#"{"type":"ping","id":1,"x":""#.utf8) + [0xC3] + Array(#""}"#.utf8)
        #expect(self.clientError(inside)?.code == .invalidUTF8)
        let atEnd = Array(#"{"type":"ping","id":1}"#.utf8) + [0xE2, 0x82]
        #expect(self.clientError(atEnd)?.code == .invalidUTF8)
    }

    @Test(arguments: [#"{"type":"ping","#, "hello", " ", "", #"{"type":"ping","id":1} trailing"#, "{'type':'ping'}"])
    func invalidJSON(_ json: String) {
        #expect(self.clientError(json)?.code == .invalidJSON)
    }

    @Test(arguments: ["[1,2]", "42", #""ping""#, "null", "true"])
    func jsonThatIsNotAnObject(_ json: String) {
        let error = self.clientError(json)
        #expect(error?.code == .invalidJSON)
        #expect(error?.message.contains("object") == true)
    }

    /// Nesting deep enough to overflow a naive recursive parser must be a clean error.
    @Test func deeplyNestedJSON() {
        let depth = 30_000
        let json = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(self.clientError(json)?.code == .invalidJSON)
    }

    @Test func missingType() {
        let error = self.clientError(#"{"id":7}"#)
        #expect(error?.code == .missingField)
        #expect(error?.message.contains("'type'") == true)
        #expect(error?.id == 7)
        #expect(self.clientError(#"{"id":7,"type":null}"#)?.code == .missingField)
    }

    @Test func typeThatIsNotAString() {
        let error = self.clientError(#"{"type":5,"id":7}"#)
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains("'type'") == true)
        #expect(error?.id == 7)
    }

    @Test func unknownTypeIsNamedAndEchoesID() {
        let error = self.clientError(#"{"type":"dance","id":9}"#)
        #expect(error?.code == .unknownType)
        #expect(error?.message.contains("dance") == true)
        #expect(error?.id == 9)
    }

    @Test func missingFieldIsNamedAndEchoesID() {
        let error = self.clientError(#"{"type":"login","id":3,"username":"alice"}"#)
        #expect(error?.code == .missingField)
        #expect(error?.message.contains("'password'") == true)
        #expect(error?.id == 3)
    }

    @Test func nullCountsAsMissing() {
        let error = self.clientError(#"{"type":"login","id":3,"username":null,"password":"x"}"#)
        #expect(error?.code == .missingField)
        #expect(error?.message.contains("'username'") == true)
    }

    @Test func missingID() {
        let error = self.clientError(#"{"type":"ping"}"#)
        #expect(error?.code == .missingField)
        #expect(error?.message.contains("'id'") == true)
        #expect(error?.id == nil)
    }

    @Test func wrongFieldTypeIsNamedAndEchoesID() {
        let error = self.clientError(#"{"type":"login","id":3,"username":5,"password":"x"}"#)
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains("'username'") == true)
        #expect(error?.id == 3)

        let version = self.clientError(#"{"type":"hello","version":"1","agent":"x"}"#)
        #expect(version?.code == .invalidField)
        #expect(version?.message.contains("'version'") == true)
    }

    /// An id must be an integer; a string, fraction or boolean is refused and not echoed.
    @Test(arguments: [#""1""#, "1.5", "true", "[1]", "1e300"])
    func idOfTheWrongType(_ id: String) {
        let error = self.clientError(#"{"type":"ping","id":\#(id)}"#)
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains("'id'") == true)
        #expect(error?.id == nil)
    }

    @Test func unknownExtraFieldsAreIgnored() {
        let frame = ClientFrame.decode(Array(#"{"type":"ping","id":1,"future":{"a":[1,2]}}"#.utf8))
        #expect(frame == .success(.ping(id: 1)))
    }

    @Test func helloNeedsNoID() {
        let frame = ClientFrame.decode(Array(#"{"type":"hello","version":1,"agent":"x"}"#.utf8))
        #expect(frame == .success(.hello(version: 1, agent: "x")))
    }

    /// The decoding error becomes the reply, id included.
    @Test func errorBecomesReplyFrame() {
        let error = self.clientError(#"{"type":"dance","id":9}"#)!
        let reply = String(decoding: ServerFrame.error(error).encode(), as: UTF8.self)
        #expect(reply == #"{"code":"unknown_type","id":9,"message":"unknown frame type 'dance'","type":"error"}"#)
    }

    // MARK: Server frames, as the client decodes them

    @Test func unknownServerTypeIsReported() {
        let error = self.serverError(#"{"type":"typing","from":"bob"}"#)
        #expect(error?.code == .unknownType)
        #expect(error?.message.contains("typing") == true)
    }

    /// A newer server's codes must not break an older client.
    @Test func unknownCodesDecodeSafely() {
        let error = ServerFrame.decode(Array(#"{"type":"error","code":"quota_exceeded","message":"slow down"}"#.utf8))
        #expect(error == .success(.error(ProtocolError(.unknown("quota_exceeded"), message: "slow down"))))
        let notice = ServerFrame.decode(Array(#"{"type":"notice","code":"maintenance","message":"soon"}"#.utf8))
        #expect(notice == .success(.notice(code: .unknown("maintenance"), message: "soon")))
    }

    @Test func serverErrorFields() {
        #expect(self.serverError(#"{"type":"error","message":"x"}"#)?.code == .missingField)
        let badRetry = self.serverError(#"{"type":"error","id":4,"code":"throttled","message":"x","retry_after":"soon"}"#)
        #expect(badRetry?.code == .invalidField)
        #expect(badRetry?.message.contains("'retry_after'") == true)
        #expect(badRetry?.id == 4)
        let badUsername = self.serverError(#"{"type":"ok","id":1,"username":1}"#)
        #expect(badUsername?.code == .invalidField)
        #expect(self.serverError(#"{"type":"ok"}"#)?.code == .missingField)
    }

    @Test func serverInvalidUTF8() {
        guard case .failure(let error) = ServerFrame.decode([0xFF, 0xFE]) else {
            Issue.record("decoded invalid UTF-8")
            return
        }
        #expect(error.code == .invalidUTF8)
    }
}
