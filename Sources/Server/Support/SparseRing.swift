import NIOCore

/// A ring (`CircularBuffer`) that holds no storage while it is empty: a session's queues are
/// empty nearly all the time, and a ring's storage kept for every connection was a few
/// hundred bytes of each idle session's memory. It is allocated by the first `append` and
/// freed when the last element is taken.
struct SparseRing<Element> {
    private var ring: CircularBuffer<Element>?

    var isEmpty: Bool { ring?.isEmpty ?? true }
    var count: Int { ring?.count ?? 0 }
    var first: Element? { ring?.first }

    mutating func append(_ element: Element) {
        if ring == nil { ring = CircularBuffer(initialCapacity: 4) }
        ring!.append(element)
    }

    /// Takes the first element; the ring must not be empty.
    mutating func removeFirst() -> Element {
        let element = ring!.removeFirst()
        if ring!.isEmpty { ring = nil }
        return element
    }

    /// The element `offset` places after the first.
    subscript(offset: Int) -> Element {
        get { ring![ring!.index(ring!.startIndex, offsetBy: offset)] }
        set { ring![ring!.index(ring!.startIndex, offsetBy: offset)] = newValue }
    }

    mutating func removeAll() {
        ring = nil
    }
}
