import CZlib

/// Gzip decompression through the system zlib, so trace files such as Flent's `.flent.gz` are read
/// as they are shipped, without NIO or a subprocess.
public enum Gunzip {
    /// Why a buffer could not be decompressed.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// zlib's reason, or ours.
        public let message: String
        /// The reason as text.
        public var description: String { message }
    }

    /// The largest output accepted (bounds a hostile "zip bomb"): 512 MiB.
    public static let maximumOutput = 512 << 20

    /// Decompresses a gzip (or zlib) stream; concatenated gzip members are read one after another.
    public static func decompress(_ input: [UInt8]) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        // 15 + 32: a window of 2^15 with automatic gzip/zlib header detection.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(message: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = input
        var status: Int32 = Z_OK
        var consumed = 0
        while true {
            let result: (status: Int32, produced: Int, used: Int) = input.withUnsafeMutableBufferPointer { inBuf in
                chunk.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_in = inBuf.baseAddress.map { $0 + consumed }
                    stream.avail_in = UInt32(inBuf.count - consumed)
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = UInt32(outBuf.count)
                    let s = inflate(&stream, Z_NO_FLUSH)
                    return (s, outBuf.count - Int(stream.avail_out), (inBuf.count - consumed) - Int(stream.avail_in))
                }
            }
            status = result.status
            consumed += result.used
            output.append(contentsOf: chunk[0..<result.produced])
            if output.count > maximumOutput { throw Failure(message: "decompressed data exceeds \(maximumOutput >> 20) MiB") }
            if status == Z_STREAM_END {
                if consumed >= input.count { break }
                inflateReset(&stream)  // another gzip member follows
                continue
            }
            if status != Z_OK {
                throw Failure(message: status == Z_DATA_ERROR ? "not gzip data, or corrupt" : "zlib error \(status)")
            }
            if result.used == 0 && result.produced == 0 {
                throw Failure(message: "truncated gzip data")
            }
        }
        return output
    }
}
