import Foundation
import Testing
import TestSupport

@testable import Shared

/// The key frames (`publish_keys`, `fetch_keys`, `keys`, and the key fields of `ok`): exact
/// encodings, and every shape the server must refuse before it stores anything.
@Suite struct KeyFrameTests {
    static let identity = Base64.encode(TestKeys.publicKey(1))
    static let signedKey = Base64.encode(TestKeys.publicKey(2))
    static let signature = Base64.encode(TestKeys.signature(3))
    static let preKey = Base64.encode(TestKeys.publicKey(4))

    /// A `publish_keys` line with `replacing` members swapped in (raw JSON values).
    static func publish(_ replacing: [String: String] = [:], removing: Set<String> = []) -> String {
        var members: [String: String] = [
            "id": "7",
            "identity_key": "\"\(identity)\"",
            "prekeys": "[{\"id\":1,\"public_key\":\"\(preKey)\"},{\"id\":2,\"public_key\":\"\(preKey)\"}]",
            "registration_id": "1234",
            "signed_prekey": "{\"id\":5,\"public_key\":\"\(signedKey)\",\"signature\":\"\(signature)\"}",
            "type": "\"publish_keys\"",
        ]
        for (name, value) in replacing { members[name] = value }
        for name in removing { members[name] = nil }
        return "{" + members.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
    }

    static func refusal(_ json: String) -> ProtocolError? {
        guard case .failure(let error) = ClientFrame.decode(Array(json.utf8)) else { return nil }
        return error
    }

    static func serverRefusal(_ json: String) -> ProtocolError? {
        guard case .failure(let error) = ServerFrame.decode(Array(json.utf8)) else { return nil }
        return error
    }

    // MARK: - Base64

    @Test("base64 writes what Foundation writes, and reads it back, for every length up to 100")
    func base64MatchesFoundation() {
        for length in 0...100 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ length) }
            let text = Base64.encode(bytes)
            #expect(text == Data(bytes).base64EncodedString())
            #expect(Base64.decode(text) == bytes)
        }
    }

    @Test(
        "base64 that is not canonical and padded is refused",
        arguments: ["YQ", "YQ=", "YR==", "YWJ=", "Y Q==", "YQ==YQ==", "a===", "ab=c", "YQ-_", "YQ==\n", "é123"])
    func base64Refusals(_ text: String) {
        #expect(Base64.decode(text) == nil)
    }

    // MARK: - Encodings

    @Test("publish_keys and keys encode exactly, members and nested members in byte order")
    func exactEncodings() {
        let keys = PublishedKeys(
            registrationID: 1234, identityKey: TestKeys.publicKey(1),
            signedPreKey: PublishedSignedPreKey(id: 5, publicKey: TestKeys.publicKey(2), signature: TestKeys.signature(3)),
            preKeys: [PublishedPreKey(id: 1, publicKey: TestKeys.publicKey(4)), PublishedPreKey(id: 2, publicKey: TestKeys.publicKey(4))])
        #expect(String(decoding: ClientFrame.publishKeys(id: 7, keys: keys).encode(), as: UTF8.self) == Self.publish())
        let bundle = PublishedBundle(
            username: "bob", registrationID: 1234, identityKey: keys.identityKey, signedPreKey: keys.signedPreKey,
            preKey: keys.preKeys[0])
        #expect(
            String(decoding: ServerFrame.keys(id: 8, bundle: bundle).encode(), as: UTF8.self)
                == "{\"id\":8,\"identity_key\":\"\(Self.identity)\",\"prekey\":{\"id\":1,\"public_key\":\"\(Self.preKey)\"},"
                + "\"registration_id\":1234,\"signed_prekey\":{\"id\":5,\"public_key\":\"\(Self.signedKey)\","
                + "\"signature\":\"\(Self.signature)\"},\"type\":\"keys\",\"username\":\"bob\"}")
        var without = bundle
        without.preKey = nil
        #expect(!String(decoding: ServerFrame.keys(id: 8, bundle: without).encode(), as: UTF8.self).contains("\"prekey\""))
        #expect(ServerFrame.decode(ServerFrame.keys(id: 8, bundle: without).encode()) == .success(.keys(id: 8, bundle: without)))
        #expect(
            String(decoding: ServerFrame.ok(id: 2, username: "alice", identityKey: keys.identityKey, preKeys: 0).encode(), as: UTF8.self)
                == "{\"id\":2,\"identity_key\":\"\(Self.identity)\",\"prekeys\":0,\"type\":\"ok\",\"username\":\"alice\"}")
        #expect(String(decoding: ClientFrame.fetchKeys(id: 9, username: "bob").encode(), as: UTF8.self)
            == #"{"id":9,"type":"fetch_keys","username":"bob"}"#)
    }

    @Test("the most a publish_keys may carry, ids and all at their largest, fits the 64 KiB frame limit")
    func largestPublishFitsAFrame() {
        let keys = TestKeys.keys(
            registrationID: PublishedKeys.registrationIDs.upperBound, signedID: PublishedKeys.preKeyIDs.upperBound,
            preKeys: (PublishedKeys.preKeyIDs.upperBound - PublishedKeys.maximumPreKeysPerFrame + 1)...PublishedKeys.preKeyIDs.upperBound)
        let frame = ClientFrame.publishKeys(id: Int.max, keys: keys)
        let bytes = frame.encode()
        #expect(bytes.count < LineFrameDecoder.defaultMaxFrameLength / 2, "\(bytes.count) bytes")
        #expect(ClientFrame.decode(bytes) == .success(frame))
    }

    @Test("a publish_keys description counts the keys instead of printing them")
    func description() {
        let frame = ClientFrame.publishKeys(id: 3, keys: TestKeys.keys(preKeys: 1...5))
        #expect("\(frame)" == "publish_keys(id: 3, registration_id: 1234, signed_prekey: 1, prekeys: 5)")
    }

    // MARK: - Refusals

    @Test("the minimal publish_keys decodes: no one-time prekeys, the ranges' ends")
    func acceptedShapes() throws {
        let frame = try ClientFrame.decode(Array(Self.publish(["prekeys": "[]", "registration_id": "16380"]).utf8)).get()
        guard case .publishKeys(7, let keys) = frame else {
            Issue.record("\(frame)")
            return
        }
        #expect(keys.preKeys.isEmpty && keys.registrationID == 16_380)
        #expect(Self.refusal(Self.publish(["registration_id": "1"])) == nil)
        #expect(Self.refusal(Self.publish(["prekeys": "[{\"id\":16777215,\"public_key\":\"\(Self.preKey)\"}]"])) == nil)
    }

    @Test(
        "a publish_keys out of shape is invalid_field naming the member, with the id",
        arguments: [
            (["identity_key": "\"not base64!\""], "identity_key"),
            (["identity_key": "\"\(Base64.encode(Array(TestKeys.publicKey(1).dropLast())))\""], "identity_key"),
            (["identity_key": "\"\(Base64.encode(TestKeys.signature(1)))\""], "identity_key"),
            (["identity_key": "33"], "identity_key"),
            (["registration_id": "0"], "registration_id"),
            (["registration_id": "16381"], "registration_id"),
            (["registration_id": "\"12\""], "registration_id"),
            (["signed_prekey": "[]"], "signed_prekey"),
            (["signed_prekey": "{\"id\":-1,\"public_key\":\"\(KeyFrameTests.signedKey)\",\"signature\":\"\(KeyFrameTests.signature)\"}"], "signed_prekey.id"),
            (["signed_prekey": "{\"id\":16777216,\"public_key\":\"\(KeyFrameTests.signedKey)\",\"signature\":\"\(KeyFrameTests.signature)\"}"], "signed_prekey.id"),
            (["signed_prekey": "{\"id\":5,\"public_key\":\"\(KeyFrameTests.signedKey)\",\"signature\":\"\(KeyFrameTests.signedKey)\"}"], "signed_prekey.signature"),
            (["prekeys": "{}"], "prekeys"),
            (["prekeys": "[1]"], "prekeys"),
            (["prekeys": "[{\"id\":1,\"public_key\":\"\(KeyFrameTests.preKey)\"},{\"id\":2,\"public_key\":\"\(KeyFrameTests.signature)\"}]"], "prekeys[1].public_key"),
            (["prekeys": "[{\"id\":3,\"public_key\":\"\(KeyFrameTests.preKey)\"},{\"id\":3,\"public_key\":\"\(KeyFrameTests.preKey)\"}]"], "prekeys"),
        ])
    func invalidFields(_ replacing: [String: String], _ member: String) throws {
        let error = try #require(Self.refusal(Self.publish(replacing)))
        #expect(error.code == .invalidField)
        #expect(error.message.contains("'\(member)'"), "\(error.message)")
        #expect(error.id == 7)
        #expect(error.code.countsAsBadFrame)
    }

    @Test("more than 200 one-time prekeys in one frame is invalid_field, saying the limit")
    func tooManyInOneFrame() throws {
        let entries = (1...201).map { "{\"id\":\($0),\"public_key\":\"\(Self.preKey)\"}" }.joined(separator: ",")
        let error = try #require(Self.refusal(Self.publish(["prekeys": "[\(entries)]"])))
        #expect(error.code == .invalidField)
        #expect(error.message.contains("'prekeys'") && error.message.contains("at most 200"), "\(error.message)")
        let fits = (1...200).map { "{\"id\":\($0),\"public_key\":\"\(Self.preKey)\"}" }.joined(separator: ",")
        #expect(Self.refusal(Self.publish(["prekeys": "[\(fits)]"])) == nil)
    }

    @Test(
        "a publish_keys without a member is missing_field naming it",
        arguments: ["identity_key", "registration_id", "signed_prekey", "prekeys"])
    func missingFields(_ member: String) throws {
        let error = try #require(Self.refusal(Self.publish(removing: [member])))
        #expect(error.code == .missingField)
        #expect(error.message.contains("'\(member)'"))
        let nested = try #require(
            Self.refusal(Self.publish(["signed_prekey": "{\"id\":5,\"public_key\":\"\(Self.signedKey)\"}"])))
        #expect(nested.code == .missingField && nested.message.contains("'signed_prekey.signature'"))
    }

    @Test("fetch_keys needs a string username")
    func fetchKeys() {
        #expect(Self.refusal(#"{"id":3,"type":"fetch_keys"}"#)?.code == .missingField)
        #expect(Self.refusal(#"{"id":3,"type":"fetch_keys","username":5}"#)?.code == .invalidField)
        #expect(ClientFrame.decode(Array(#"{"id":3,"type":"fetch_keys","username":"Bob"}"#.utf8)) == .success(.fetchKeys(id: 3, username: "Bob")))
    }

    @Test("a client refuses keys and ok frames whose keys are out of shape, so a broken server is noticed")
    func serverFramesChecked() {
        let short = Base64.encode(Array(TestKeys.publicKey(1).dropLast()))
        #expect(Self.serverRefusal("{\"id\":2,\"identity_key\":\"\(short)\",\"type\":\"ok\"}")?.code == .invalidField)
        #expect(
            Self.serverRefusal(
                "{\"id\":8,\"identity_key\":\"\(Self.identity)\",\"registration_id\":1,\"signed_prekey\":{\"id\":5,"
                    + "\"public_key\":\"\(Self.signedKey)\",\"signature\":\"\(Self.signature)\"},\"type\":\"keys\"}")?.message
                == "missing field 'username'")
        #expect(
            Self.serverRefusal(
                "{\"id\":8,\"identity_key\":\"\(Self.identity)\",\"prekey\":{\"id\":1,\"public_key\":\"\(short)\"},"
                    + "\"registration_id\":1,\"signed_prekey\":{\"id\":5,\"public_key\":\"\(Self.signedKey)\","
                    + "\"signature\":\"\(Self.signature)\"},\"type\":\"keys\",\"username\":\"bob\"}")?.message
                .contains("'prekey.public_key'") == true)
    }
}
