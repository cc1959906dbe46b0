import EndToEnd
import Testing

/// A long conversation over a channel that loses, reorders and delays messages, on a seeded
/// schedule so that a failure replays exactly (the keys differ from run to run; the
/// schedule does not).
///
/// libomemo-c's bounds, which the schedule stays within: a message at most 2000 ahead of its
/// chain, at most 2000 skipped keys kept per chain, the last 5 receiving chains kept. Here a
/// flight is at most 8 messages and a delayed message arrives one round trip late.
@Suite struct LossyChannelTests {
    struct InFlight {
        let message: EncryptedMessage
        let text: String
        let number: Int
    }

    struct Tally {
        var sent = 0, delivered = 0, lost = 0, delayed = 0, outOfOrder = 0, preKeyMessages = 0
    }

    @Test func tenThousandMessagesWithLossReorderingAndDelay() throws {
        let tally = try converse(total: 10_000, seed: 0x5EED_2024_E2E0_0001)
        #expect(tally.sent == 10_000)
        #expect(tally.delivered + tally.lost == tally.sent)
        #expect(tally.lost > 500 && tally.delayed > 300 && tally.outOfOrder > 1000, "the channel misbehaved: \(tally)")
        #expect(tally.preKeyMessages >= 1)
    }

    private func converse(total: Int, seed: UInt64) throws -> Tally {
        var random = SeededGenerator(seed: seed)
        let alice = try Party("alice")
        let bob = try Party("bob")
        try alice.device.startSession(with: bob.address, bundle: bob.device.publicBundle())

        var tally = Tally()
        // Delayed messages per receiver, delivered after that direction's next flight.
        var held: [String: [InFlight]] = ["alice": [], "bob": []]
        var aliceSends = true

        func deliver(_ batch: [InFlight], to receiver: Party, from sender: Party, lastNumber: inout Int) throws {
            for item in batch {
                if item.number < lastNumber { tally.outOfOrder += 1 }
                lastNumber = max(lastNumber, item.number)
                let text = try receiver.receive(item.message, from: sender)
                guard text == item.text else { throw TestFailure("message \(item.number) decrypted to \(text)") }
                tally.delivered += 1
            }
        }

        var lastSeen: [String: Int] = ["alice": -1, "bob": -1]
        while tally.sent < total {
            let (sender, receiver) = aliceSends ? (alice, bob) : (bob, alice)
            aliceSends.toggle()
            // Bob can answer only once a message of Alice's has reached him.
            guard try sender.device.hasSession(with: receiver.address) else { continue }

            var queue: [InFlight] = []
            var newlyHeld: [InFlight] = []
            for _ in 0..<Int.random(in: 1...8, using: &random) where tally.sent < total {
                let filler = String(repeating: "x", count: Int.random(in: 0...40, using: &random))
                let text = "\(sender.name) #\(tally.sent) \(filler)"
                let message = try sender.send(text, to: receiver)
                if message.kind == .preKey { tally.preKeyMessages += 1 }
                let item = InFlight(message: message, text: text, number: tally.sent)
                tally.sent += 1
                switch Int.random(in: 0..<100, using: &random) {
                case 0..<8: tally.lost += 1
                case 8..<13: tally.delayed += 1; newlyHeld.append(item)
                default: queue.append(item)
                }
            }
            // Reorder within the flight, then add what was held back from the last one.
            for index in queue.indices where Int.random(in: 0..<100, using: &random) < 35 {
                queue.swapAt(index, Int.random(in: queue.indices, using: &random))
            }
            queue += held[receiver.name]!
            held[receiver.name] = newlyHeld
            try deliver(queue, to: receiver, from: sender, lastNumber: &lastSeen[receiver.name]!)
        }
        try deliver(held["bob"]!, to: bob, from: alice, lastNumber: &lastSeen["bob"]!)
        try deliver(held["alice"]!, to: alice, from: bob, lastNumber: &lastSeen["alice"]!)
        return tally
    }
}
