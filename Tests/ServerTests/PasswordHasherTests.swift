import Foundation
import Testing

@testable import Server

@Suite("PasswordHasher")
struct PasswordHasherTests {
    private let hasher: PasswordHasher

    init() throws {
        hasher = try PasswordHasher(parameters: .fastForTests)
    }

    @Test("the right password verifies, a wrong one does not")
    func verify() throws {
        let hash = try hasher.hash(password: "correct horse battery staple")
        #expect(try hash.verify(password: "correct horse battery staple"))
        #expect(try hash.verify(password: "correct horse battery stapl") == false)
        #expect(try hash.verify(password: "Correct horse battery staple") == false)
        #expect(try hash.verify(password: "") == false)
        #expect(try hasher.verify(password: "correct horse battery staple", against: hash))
    }

    @Test("hashes have the configured shape: 16-byte salt, 32-byte output, the hasher's parameters")
    func shape() throws {
        let hash = try hasher.hash(password: "password1")
        #expect(hash.salt.count == 16)
        #expect(hash.hash.count == 32)
        #expect(hash.parameters == .fastForTests)
    }

    @Test("the same password gets a different salt and hash every time")
    func differentSalts() throws {
        let first = try hasher.hash(password: "same password")
        let second = try hasher.hash(password: "same password")
        #expect(first.salt != second.salt)
        #expect(first.hash != second.hash)
        #expect(try first.verify(password: "same password"))
        #expect(try second.verify(password: "same password"))
    }

    @Test("scrypt output matches RFC 7914's test vector (N=1024, r=8, p=16)")
    func knownAnswer() throws {
        // RFC 7914 section 12, second vector: P="password", S="NaCl", N=1024, r=8, p=16.
        let output = try PasswordHasher.derive(
            password: Array("password".utf8),
            salt: Array("NaCl".utf8),
            parameters: ScryptParameters(logN: 10, r: 8, p: 16),
            length: 64
        )
        let expected =
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            + "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        #expect(output.map { String(format: "%02x", $0) }.joined() == expected)
    }

    @Test("the stored JSON carries algorithm, parameters, base64 salt and hash, and reads back")
    func jsonRoundTrip() throws {
        let hasher = try PasswordHasher(parameters: ScryptParameters(logN: 11, r: 4, p: 2))
        let hash = try hasher.hash(password: "password1")
        let json = try JSONEncoder().encode(hash)
        let object = try #require(JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(object["algorithm"] as? String == "scrypt")
        #expect(object["logN"] as? Int == 11)
        #expect(object["r"] as? Int == 4)
        #expect(object["p"] as? Int == 2)
        #expect(object["salt"] as? String == Data(hash.salt).base64EncodedString())
        #expect(object["hash"] as? String == Data(hash.hash).base64EncodedString())

        let decoded = try JSONDecoder().decode(PasswordHash.self, from: json)
        #expect(decoded == hash)
        #expect(decoded.parameters == ScryptParameters(logN: 11, r: 4, p: 2))
        #expect(try decoded.verify(password: "password1"))
    }

    @Test("a stored hash with another algorithm or bad base64 is refused when decoded")
    func rejectsBadRecords() {
        let wrongAlgorithm = #"{"algorithm":"md5","logN":10,"r":8,"p":1,"salt":"AAAA","hash":"AAAA"}"#
        let badBase64 = #"{"algorithm":"scrypt","logN":10,"r":8,"p":1,"salt":"not base64!","hash":"AAAA"}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(PasswordHash.self, from: Data(wrongAlgorithm.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(PasswordHash.self, from: Data(badBase64.utf8)) }
    }

    @Test("parameters outside the limits are refused, not computed")
    func unsupportedParameters() throws {
        let huge = ScryptParameters(logN: 30, r: 8, p: 1)
        #expect(throws: PasswordHasherError.unsupportedParameters(huge)) { try PasswordHasher(parameters: huge) }
        let stored = PasswordHash(parameters: huge, salt: Array(repeating: 1, count: 16), hash: Array(repeating: 2, count: 32))
        #expect(throws: PasswordHasherError.unsupportedParameters(huge)) { try stored.verify(password: "password1") }
        #expect(ScryptParameters.default.isSupported)
        #expect(ScryptParameters.fastForTests.isSupported)
    }

    @Test("N = 2^15 works: the explicit memory limit lifts OpenSSL's 32 MiB default")
    func largeN() throws {
        let output = try PasswordHasher.derive(
            password: Array("password1".utf8),
            salt: Array(repeating: 7, count: 16),
            parameters: ScryptParameters(logN: 15, r: 8, p: 1),
            length: 32
        )
        #expect(output.count == 32)
    }

    @Test("needsRehash is true exactly when the parameters differ from the current ones")
    func needsRehash() throws {
        let hash = try hasher.hash(password: "password1")
        #expect(hash.needsRehash(current: .fastForTests) == false)
        #expect(hash.needsRehash(current: ScryptParameters(logN: 11, r: 8, p: 1)))
        #expect(hash.needsRehash(current: .default))
    }

    @Test("an unknown user costs a dummy verification and never succeeds")
    func dummyVerify() throws {
        #expect(try hasher.verify(password: "password1", against: nil) == false)
        #expect(try hasher.dummyVerify(password: "password1") == false)
        #expect(try hasher.dummyVerify(password: "") == false)
    }

    @Test("dummy verification runs the same scrypt as a real one: same parameters, same sizes")
    func dummyVerifyCost() throws {
        // Equal cost by construction, checked without a clock (tests are not timed): the
        // dummy path is PasswordHash.verify on a hash made with the hasher's own
        // parameters and the real salt and hash lengths, so scrypt does the same work.
        let hasher = try PasswordHasher(parameters: ScryptParameters(logN: 13, r: 8, p: 1))
        let real = try hasher.hash(password: "password1")
        #expect(hasher.dummyHash.parameters == real.parameters)
        #expect(hasher.dummyHash.salt.count == real.salt.count)
        #expect(hasher.dummyHash.hash.count == real.hash.count)
        #expect(try hasher.dummyVerify(password: "password1") == false)
    }

    @Test("canonically equivalent spellings of a password are the same password")
    func unicodeNormalisation() throws {
        let precomposed = "caf\u{E9} au lait"
        let decomposed = "cafe\u{301} au lait"
        #expect(precomposed.utf8.elementsEqual(decomposed.utf8) == false)
        let hash = try hasher.hash(password: precomposed)
        #expect(try hash.verify(password: decomposed))
    }

    @Test("constant-time comparison compares contents and lengths")
    func constantTimeEquals() {
        #expect(PasswordHasher.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(PasswordHasher.constantTimeEquals([1, 2, 3], [1, 2, 4]) == false)
        #expect(PasswordHasher.constantTimeEquals([1, 2, 3], [1, 2]) == false)
        #expect(PasswordHasher.constantTimeEquals([], []))
    }
}
