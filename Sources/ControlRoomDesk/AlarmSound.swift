import ControlRoomKit
import Foundation

/// The desk's alarm sounds, made here as small WAV files (8 kHz, 16-bit mono) so nothing has to be fetched: a
/// two-tone siren for an emergency, a single softer tone for a help call.
enum AlarmSound {
    enum Tone: String {
        case emergency
        case help
    }

    static func wav(_ tone: Tone) -> [UInt8] {
        let rate = 8000
        var samples: [Int16] = []
        let segments: [(frequency: Double, seconds: Double, level: Double)] =
            switch tone {
            case .emergency: [(960, 0.25, 0.8), (640, 0.25, 0.8), (960, 0.25, 0.8), (640, 0.25, 0.8)]
            case .help: [(520, 0.35, 0.45), (0, 0.1, 0), (520, 0.35, 0.45)]
            }
        for segment in segments {
            let count = Int(segment.seconds * Double(rate))
            for index in 0..<count {
                // A short fade at both ends of each segment avoids clicks.
                let fade = min(1, Double(min(index, count - index)) / 80)
                let value = sin(2 * .pi * segment.frequency * Double(index) / Double(rate)) * segment.level * fade
                samples.append(Int16(value * Double(Int16.max)))
            }
        }
        var bytes: [UInt8] = []
        func append(_ text: String) { bytes += Array(text.utf8) }
        func append32(_ value: Int) { bytes += withUnsafeBytes(of: UInt32(value).littleEndian, Array.init) }
        func append16(_ value: Int) { bytes += withUnsafeBytes(of: UInt16(value).littleEndian, Array.init) }
        append("RIFF")
        append32(36 + samples.count * 2)
        append("WAVEfmt ")
        append32(16)
        append16(1)
        append16(1)
        append32(rate)
        append32(rate * 2)
        append16(2)
        append16(16)
        append("data")
        append32(samples.count * 2)
        for sample in samples { bytes += withUnsafeBytes(of: sample.littleEndian, Array.init) }
        return bytes
    }
}
