import NIOCore

/// Closing a connection whose peer may still be sending, without losing what was written last.
/// Closing a socket with unread input makes the kernel answer with a reset, and a reset can make
/// the peer drop the answer it had not read yet (a 413 before the rest of an oversized body, a
/// WebSocket Close frame before the rest of a frame too large). So the last bytes go out, then a
/// FIN (half-close), the input is read and dropped until the peer closes, and the connection is
/// closed at the latest `linger` later, as web servers do (nginx's lingering_close).
enum LingeringClose {
    /// How long the input is drained before the connection is closed anyway.
    static let linger: TimeAmount = .seconds(2)

    /// Once `written` completes: half-closes the output, then closes the channel when the peer
    /// closes (NIO closes on end of input) or after `linger`. A channel that cannot half-close is
    /// closed at once.
    static func close(_ channel: any Channel, after written: EventLoopFuture<Void>) {
        written.whenComplete { _ in
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
            let timer = channel.eventLoop.scheduleTask(in: linger) { channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in timer.cancel() }
        }
    }
}
