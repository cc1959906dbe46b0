/// Who a session is with: the partner's user name and one of their devices.
///
/// libomemo-c keys sessions and trusted identities by this pair. The chat has one device per
/// user today, hence the default device id.
public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    /// The partner's stable identifier (their user name), as UTF-8 without NUL bytes.
    public let name: String
    /// The partner's device.
    public let deviceID: Int32

    /// The device id of a user's only device.
    public static let defaultDeviceID: Int32 = 1

    /// An address; the name must be non-empty and free of NUL bytes (libomemo-c passes it on
    /// as a C string).
    public init(name: String, deviceID: Int32 = PeerAddress.defaultDeviceID) {
        precondition(!name.isEmpty && !name.utf8.contains(0), "a peer name is non-empty and has no NUL byte")
        self.name = name
        self.deviceID = deviceID
    }

    public var description: String { "\(name):\(deviceID)" }
}

extension PeerAddress: Comparable {
    /// By name, then device: the order in which exported stores list peers, so that the same
    /// state always exports to the same bytes.
    public static func < (lhs: PeerAddress, rhs: PeerAddress) -> Bool {
        (lhs.name, lhs.deviceID) < (rhs.name, rhs.deviceID)
    }
}
