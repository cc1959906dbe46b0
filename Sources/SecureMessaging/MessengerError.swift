import EndToEnd

/// Why the end-to-end layer refused something, by what the user or caller must do.
public enum MessengerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The partner has never published keys (they have not logged in with an encrypting
    /// client yet): nothing can be sent to them until they do.
    case partnerHasNoKeys(String)
    /// The partner's identity key is not the trusted one. Nothing is sent to them or shown
    /// from them until the user compares safety numbers and accepts it (`/trust`).
    case partnerKeyChanged(String)
    /// The text is longer than a message carries.
    case textTooLong(bytes: Int)
    /// The server would not give the partner's keys (the reason is its message): nothing
    /// was sent.
    case keysUnavailable(String, String)
    /// The partner's published bundle is unusable (a bad signature, a malformed key):
    /// nothing was sent.
    case badBundle(String, EncryptionError)
    /// The local state could not be read or written; the operation had no effect.
    case storageFailed(String)
    /// The local state exists but does not read back.
    case stateDamaged(String)
    /// libomemo-c or OpenSSL failed on this device's own keys.
    case encryption(EncryptionError)

    public var description: String {
        switch self {
        case .partnerHasNoKeys(let name):
            "\(name) has no encryption keys yet (they need to log in once with chat-client); nothing was sent"
        case .partnerKeyChanged(let name):
            "\(name)'s identity key changed; compare safety numbers (/verify \(name)), then /trust \(name) to go on"
        case .textTooLong(let bytes):
            "the message is \(bytes) bytes; at most \(MessageEnvelope.maximumTextBytes) fit in one"
        case .keysUnavailable(let name, let reason):
            "\(name)'s keys are not available (\(reason)); nothing was sent"
        case .badBundle(let name, let error):
            "\(name)'s published keys are unusable (\(error)); nothing was sent"
        case .storageFailed(let reason):
            "the local state could not be saved or read: \(reason)"
        case .stateDamaged(let reason):
            "the local state is damaged: \(reason)"
        case .encryption(let error):
            "encryption failed: \(error)"
        }
    }

    /// Runs a storage call, reporting what it throws as `.storageFailed`.
    static func storage<Value>(_ body: () throws -> Value) throws(MessengerError) -> Value {
        do {
            return try body()
        } catch {
            throw .storageFailed(String(describing: error))
        }
    }

    /// Runs an EndToEnd call on this device's own state, reporting its failure as
    /// `.encryption`.
    static func device<Value>(_ body: () throws -> Value) throws(MessengerError) -> Value {
        do {
            return try body()
        } catch let error as EncryptionError {
            if case .storeFailed(let reason) = error { throw .storageFailed(reason) }
            throw .encryption(error)
        } catch {
            throw .encryption(.library(operation: String(describing: error), code: 0))
        }
    }
}
