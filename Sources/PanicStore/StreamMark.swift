import Foundation

/// A failed call on the stream-mark file, naming the call, the file and the errno.
public struct StreamMarkError: Error, Equatable, CustomStringConvertible {
    /// The C call that failed (`open`, `pwrite`, `fdatasync`, ...).
    public var call: String
    /// The stream-mark file.
    public var path: String
    /// The errno read right after the call.
    public var errno: Int32

    public var description: String {
        "\(path): stream mark: \(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// The device stream's high-water mark, kept outside the outbox (beside the device key) so that losing the outbox
/// — a corrupt file moved aside, a deleted file, a re-imaged card that kept the key — never makes the box number
/// records from 1 again under the same key, which every control room would refuse as forks.
///
/// The file is two fixed 256-byte slots written alternately in place (`pwrite` + `fdatasync`): a torn write can
/// damage only the slot being written, and the other still holds the previous mark. Each slot is one line
/// `panic-stream-mark v1 <device> <sequence> <hash|-> <checksum>` padded with spaces; a slot whose checksum does not
/// match is ignored. Writing in place needs no new blocks, so the mark can still move on a full disk.
public final class StreamMark {
    /// The last committed record of a device's stream.
    public struct Mark: Sendable, Hashable {
        public var device: String
        public var sequence: Int64
        public var hash: String?

        public init(device: String, sequence: Int64, hash: String?) {
            self.device = device
            self.sequence = sequence
            self.hash = hash
        }
    }

    static let slotSize = 256
    /// The file's path.
    public let path: String
    private let descriptor: Int32
    private var nextSlot = 0
    /// The mark read when the file was opened (nil for a new or unreadable file).
    public private(set) var mark: Mark?

    /// Opens (creating, mode 0600) the mark file at `path` and reads its mark.
    public init(path: String) throws(StreamMarkError) {
        self.path = path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StreamMarkError(call: "open", path: path, errno: errno) }
        self.descriptor = descriptor
        var buffer = [UInt8](repeating: 0, count: 2 * StreamMark.slotSize)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else {
            let code = errno
            close(descriptor)
            throw StreamMarkError(call: "pread", path: path, errno: code)
        }
        var best: (slot: Int, mark: Mark)?
        for slot in 0..<2 where count >= (slot + 1) * StreamMark.slotSize {
            let bytes = buffer[(slot * StreamMark.slotSize)..<((slot + 1) * StreamMark.slotSize)]
            if let mark = StreamMark.decode(Array(bytes)), mark.sequence > (best?.mark.sequence ?? -1) {
                best = (slot, mark)
            }
        }
        mark = best?.mark
        nextSlot = best.map { 1 - $0.slot } ?? 0
    }

    deinit { close(descriptor) }

    /// Writes `mark` durably (the slot not holding the newest mark, then `fdatasync`).
    public func write(_ mark: Mark) throws(StreamMarkError) {
        let bytes = StreamMark.encode(mark)
        let offset = off_t(nextSlot * StreamMark.slotSize)
        let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, offset) }
        guard written == bytes.count else {
            throw StreamMarkError(call: "pwrite", path: path, errno: written < 0 ? errno : EIO)
        }
        guard fdatasync(descriptor) == 0 else { throw StreamMarkError(call: "fdatasync", path: path, errno: errno) }
        nextSlot = 1 - nextSlot
        self.mark = mark
    }

    /// Syncs the directory holding the file (once, after creating it), so the file itself survives a power cut.
    public func syncDirectory() throws(StreamMarkError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let handle = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard handle >= 0 else { throw StreamMarkError(call: "open", path: directory, errno: errno) }
        defer { close(handle) }
        guard fsync(handle) == 0 else { throw StreamMarkError(call: "fsync", path: directory, errno: errno) }
    }

    static func line(_ mark: Mark) -> String {
        "panic-stream-mark v1 \(mark.device) \(mark.sequence) \(mark.hash ?? "-")"
    }

    static func checksum(_ text: String) -> String {
        // FNV-1a, 64 bit: enough to tell a torn slot from a whole one.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }

    static func encode(_ mark: Mark) -> [UInt8] {
        let body = line(mark)
        var bytes = Array("\(body) \(checksum(body))".utf8)
        bytes += [UInt8](repeating: 0x20, count: max(0, slotSize - 1 - bytes.count))
        bytes.append(0x0a)
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> Mark? {
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let fields = text.split(separator: " ").map(String.init)
        guard fields.count == 6, fields[0] == "panic-stream-mark", fields[1] == "v1",
            let sequence = Int64(fields[3])
        else { return nil }
        let mark = Mark(device: fields[2], sequence: sequence, hash: fields[4] == "-" ? nil : fields[4])
        guard checksum(line(mark)) == fields[5] else { return nil }
        return mark
    }
}
