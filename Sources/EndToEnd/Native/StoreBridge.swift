internal import COmemo

/// Connects libomemo-c's store callbacks to the Swift stores of one device.
///
/// libomemo-c reaches the stores only through C function tables whose `user_data` is this
/// object (unretained: the `ProtocolStoreContext` that installs the tables keeps it alive).
/// A Swift store that throws makes its callback return `storeFailureCode`, which libomemo-c
/// passes up unchanged; the error itself waits in `failure` for the caller to report.
final class StoreBridge {
    let stores: ProtocolStores
    /// The last error a store threw inside a callback.
    var failure: (any Error)?

    init(stores: ProtocolStores) {
        self.stores = stores
    }

    /// Below SG_ERR_MINIMUM (-9999), so it can never be one of libomemo-c's own codes.
    static let storeFailureCode: Int32 = -10_000

    /// Runs a store call, turning a thrown error into `storeFailureCode`.
    func attempt(_ body: () throws -> Int32) -> Int32 {
        do {
            return try body()
        } catch {
            failure = error
            return Self.storeFailureCode
        }
    }

    static func from(_ userData: UnsafeMutableRawPointer?) -> StoreBridge {
        Unmanaged<StoreBridge>.fromOpaque(userData!).takeUnretainedValue()
    }
}

/// A store callback could not make sense of its arguments (the library's own bug, never the
/// peer's input).
private let badArguments = Int32(SG_ERR_INVAL)

/// The peer an address names. libomemo-c hands back the address it was given, so the name is
/// the NUL-free UTF-8 that `PeerAddress` checked.
private func peer(_ address: UnsafePointer<signal_protocol_address>?) -> PeerAddress? {
    guard let address = address?.pointee, let name = address.name, address.name_len > 0 else { return nil }
    return name.withMemoryRebound(to: UInt8.self, capacity: address.name_len) {
        PeerAddress(name: String(decoding: UnsafeBufferPointer(start: $0, count: address.name_len), as: UTF8.self),
                    deviceID: address.device_id)
    }
}

private func name(_ name: UnsafePointer<CChar>?, _ length: Int) -> String? {
    guard let name, length > 0 else { return nil }
    return name.withMemoryRebound(to: UInt8.self, capacity: length) {
        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
    }
}

/// Hands `bytes` to the library in a buffer it frees.
private func hand(_ bytes: [UInt8], to output: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let output else { return badArguments }
    guard let buffer = bytes.withUnsafeBufferPointer({ signal_buffer_create($0.baseAddress, $0.count) }) else {
        return Int32(SG_ERR_NOMEM)
    }
    output.pointee = buffer
    return 0
}

private func copy(_ data: UnsafeMutablePointer<UInt8>?, _ length: Int) -> [UInt8] {
    guard let data else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: length))
}

extension StoreBridge {
    /// The session store table. libomemo-c's contract: load answers 1 (found, `*record`
    /// set) or 0 (not found, `*record` untouched); contains answers 1 or 0; delete answers 1
    /// if something was deleted; the user record (application data beside a session) is not
    /// used by this package.
    func sessionStore(userData: UnsafeMutableRawPointer) -> signal_protocol_session_store {
        signal_protocol_session_store(
            load_session_func: { record, _, address, userData in
                let bridge = StoreBridge.from(userData)
                guard let peer = peer(address) else { return badArguments }
                return bridge.attempt {
                    guard let stored = try bridge.stores.sessions.sessionRecord(for: peer) else { return 0 }
                    let handed = hand(stored, to: record)
                    return handed < 0 ? handed : 1
                }
            },
            get_sub_device_sessions_func: { sessions, namePointer, nameLength, userData in
                let bridge = StoreBridge.from(userData)
                guard let sessions, let name = name(namePointer, nameLength) else { return badArguments }
                return bridge.attempt {
                    let ids = try bridge.stores.sessions.deviceIDs(named: name)
                    guard let list = signal_int_list_alloc() else { return Int32(SG_ERR_NOMEM) }
                    for id in ids where signal_int_list_push_back(list, id) < 0 {
                        signal_int_list_free(list)
                        return Int32(SG_ERR_NOMEM)
                    }
                    sessions.pointee = list
                    return Int32(ids.count)
                }
            },
            store_session_func: { address, record, recordLength, _, _, userData in
                let bridge = StoreBridge.from(userData)
                guard let peer = peer(address) else { return badArguments }
                return bridge.attempt {
                    try bridge.stores.sessions.storeSessionRecord(copy(record, recordLength), for: peer)
                    return 0
                }
            },
            contains_session_func: { address, userData in
                let bridge = StoreBridge.from(userData)
                guard let peer = peer(address) else { return badArguments }
                return bridge.attempt { try bridge.stores.sessions.containsSession(for: peer) ? 1 : 0 }
            },
            delete_session_func: { address, userData in
                let bridge = StoreBridge.from(userData)
                guard let peer = peer(address) else { return badArguments }
                return bridge.attempt { try bridge.stores.sessions.deleteSession(for: peer) ? 1 : 0 }
            },
            delete_all_sessions_func: { namePointer, nameLength, userData in
                let bridge = StoreBridge.from(userData)
                guard let name = name(namePointer, nameLength) else { return badArguments }
                return bridge.attempt { Int32(try bridge.stores.sessions.deleteAllSessions(named: name)) }
            },
            destroy_func: nil,
            user_data: userData
        )
    }

    /// The one-time prekey store table. libomemo-c's contract: load answers SG_SUCCESS with
    /// `*record` set, or SG_ERR_INVALID_KEY_ID (never success without a record: the library
    /// would deserialize a NULL buffer).
    func preKeyStore(userData: UnsafeMutableRawPointer) -> signal_protocol_pre_key_store {
        signal_protocol_pre_key_store(
            load_pre_key: { record, id, userData in
                let bridge = StoreBridge.from(userData)
                return bridge.attempt {
                    guard let stored = try bridge.stores.preKeys.preKeyRecord(id: id) else {
                        return Int32(SG_ERR_INVALID_KEY_ID)
                    }
                    return hand(stored, to: record)
                }
            },
            store_pre_key: { id, record, recordLength, userData in
                let bridge = StoreBridge.from(userData)
                return bridge.attempt {
                    try bridge.stores.preKeys.storePreKeyRecord(copy(record, recordLength), id: id)
                    return 0
                }
            },
            contains_pre_key: { id, userData in
                let bridge = StoreBridge.from(userData)
                return bridge.attempt { try bridge.stores.preKeys.containsPreKey(id: id) ? 1 : 0 }
            },
            remove_pre_key: { id, userData in
                let bridge = StoreBridge.from(userData)
                return bridge.attempt {
                    try bridge.stores.preKeys.removePreKey(id: id)
                    return 0
                }
            },
            destroy_func: nil,
            user_data: userData
        )
    }

    /// The signed prekey store table; the same contract as the one-time prekey store.
    func signedPreKeyStore(userData: UnsafeMutableRawPointer) -> signal_protocol_signed_pre_key_store {
        signal_protocol_signed_pre_key_store(
            load_signed_pre_key: { record, id, userData in
                let bridge = StoreBridge.from(userData)
                return bridge.attempt {
                    guard let stored = try bridge.stores.signedPreKeys.signedPreKeyRecord(id: id) else {
                        return Int32(SG_ERR_INVALID_KEY_ID)
                    }
                    return hand(stored, to: record)
                }
            },
            store_signed_pre_key: { id, record, recordLength, userData in
                let bridge = StoreBridge.from(userData)
                return bridge.attempt {
                    try bridge.stores.signedPreKeys.storeSignedPreKeyRecord(copy(record, recordLength), id: id)
                    return 0
                }
            },
            contains_signed_pre_key: { id, userData in
                let bridge = StoreBridge.from(userData)
                return bridge.attempt { try bridge.stores.signedPreKeys.containsSignedPreKey(id: id) ? 1 : 0 }
            },
            remove_signed_pre_key: { id, userData in
                let bridge = StoreBridge.from(userData)
                return bridge.attempt {
                    try bridge.stores.signedPreKeys.removeSignedPreKey(id: id)
                    return 0
                }
            },
            destroy_func: nil,
            user_data: userData
        )
    }

    /// The identity store table. libomemo-c's contract: the key pair callback must set both
    /// buffers (the library dereferences them unchecked); public keys arrive serialized
    /// (33 bytes); is-trusted answers 1 or 0.
    func identityKeyStore(userData: UnsafeMutableRawPointer) -> signal_protocol_identity_key_store {
        signal_protocol_identity_key_store(
            get_identity_key_pair: { publicData, privateData, userData in
                let bridge = StoreBridge.from(userData)
                guard let publicData, let privateData else { return badArguments }
                return bridge.attempt {
                    let identity = try bridge.stores.identity.localIdentity()
                    let handedPublic = hand(identity.identityKey.bytes, to: publicData)
                    guard handedPublic >= 0 else { return handedPublic }
                    let handedPrivate = hand(identity.privateKey, to: privateData)
                    if handedPrivate < 0 {
                        signal_buffer_free(publicData.pointee)
                        publicData.pointee = nil
                    }
                    return handedPrivate
                }
            },
            get_local_registration_id: { userData, registrationID in
                let bridge = StoreBridge.from(userData)
                guard let registrationID else { return badArguments }
                return bridge.attempt {
                    registrationID.pointee = try bridge.stores.identity.localIdentity().registrationID
                    return 0
                }
            },
            save_identity: { address, keyData, keyLength, userData in
                let bridge = StoreBridge.from(userData)
                guard let peer = peer(address) else { return badArguments }
                return bridge.attempt {
                    let key = keyData == nil ? nil : try IdentityKey(bytes: copy(keyData, keyLength))
                    try bridge.stores.identity.saveIdentity(key, for: peer)
                    return 0
                }
            },
            is_trusted_identity: { address, keyData, keyLength, userData in
                let bridge = StoreBridge.from(userData)
                guard let peer = peer(address), keyData != nil else { return badArguments }
                return bridge.attempt {
                    let key = try IdentityKey(bytes: copy(keyData, keyLength))
                    return try bridge.stores.identity.isTrusted(key, for: peer) ? 1 : 0
                }
            },
            destroy_func: nil,
            user_data: userData
        )
    }
}
