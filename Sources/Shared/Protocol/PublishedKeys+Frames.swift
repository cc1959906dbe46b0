// The key frames' members, read with the checks both sides apply (the server to what it
// stores, a client to what the server hands it) and written in byte order of their names.

extension PublishedKeys {
    /// Reads `publish_keys`' members; `invalid_field` names the first one out of shape.
    init(_ fields: FrameFields) throws(ProtocolError) {
        let registrationID = try fields.int("registration_id", in: Self.registrationIDs)
        let identityKey = try fields.base64("identity_key", length: Self.publicKeyLength)
        let signedPreKey = try PublishedSignedPreKey(try fields.object("signed_prekey"))
        var preKeys: [PublishedPreKey] = []
        var ids = Set<Int>()
        for entry in try fields.objects("prekeys", maximumCount: Self.maximumPreKeysPerFrame) {
            let preKey = try PublishedPreKey(entry)
            // Twice in one frame would leave which key the id stands for to chance.
            guard ids.insert(preKey.id).inserted else {
                throw .invalidField("prekeys", expected: "each id once, got \(preKey.id) twice", id: fields.id)
            }
            preKeys.append(preKey)
        }
        self.init(registrationID: registrationID, identityKey: identityKey, signedPreKey: signedPreKey, preKeys: preKeys)
    }
}

extension PublishedBundle {
    /// Reads the `keys` frame's members.
    init(_ fields: FrameFields) throws(ProtocolError) {
        self.init(
            username: try fields.string("username"),
            registrationID: try fields.int("registration_id", in: PublishedKeys.registrationIDs),
            identityKey: try fields.base64("identity_key", length: PublishedKeys.publicKeyLength),
            signedPreKey: try PublishedSignedPreKey(try fields.object("signed_prekey")),
            preKey: try fields.optionalObject("prekey").map { entry throws(ProtocolError) in try PublishedPreKey(entry) })
    }
}

extension PublishedSignedPreKey {
    init(_ fields: FrameFields) throws(ProtocolError) {
        self.init(
            id: try fields.int("id", in: PublishedKeys.preKeyIDs),
            publicKey: try fields.base64("public_key", length: PublishedKeys.publicKeyLength),
            signature: try fields.base64("signature", length: PublishedKeys.signatureLength))
    }

    /// Sets `id`, `public_key` and `signature` into the nested object being built.
    func build(into builder: inout some FrameBuilder) {
        builder.set("id", id)
        builder.set("public_key", Base64.encode(publicKey))
        builder.set("signature", Base64.encode(signature))
    }
}

extension PublishedPreKey {
    init(_ fields: FrameFields) throws(ProtocolError) {
        self.init(
            id: try fields.int("id", in: PublishedKeys.preKeyIDs),
            publicKey: try fields.base64("public_key", length: PublishedKeys.publicKeyLength))
    }

    /// Sets `id` and `public_key` into the nested object being built.
    func build(into builder: inout some FrameBuilder) {
        builder.set("id", id)
        builder.set("public_key", Base64.encode(publicKey))
    }
}
