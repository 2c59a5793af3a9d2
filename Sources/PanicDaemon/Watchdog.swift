import Foundation

/// Whether the last reset of the board was the watchdog's, for the `boot` record's reason.
///
/// Linux watchdog drivers report it in `/sys/class/watchdog/watchdogN/bootstatus`: a bit mask of `WDIOF_*` flags
/// (decimal or `0x` hex), `WDIOF_CARDRESET` (0x0020) set when the watchdog reset the card. Drivers that cannot tell
/// report 0; a board without a watchdog has no such file: the reason is then `power-cut`.
public enum Watchdog {
    /// `WDIOF_CARDRESET` from `linux/watchdog.h`.
    static let cardReset = 0x0020

    /// Reads every `bootstatus` under `directory`.
    public static func lastResetWasWatchdog(directory: String = "/sys/class/watchdog") -> Bool {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return false }
        return names.contains { name in
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)/bootstatus") else {
                return false
            }
            return bootstatusSaysWatchdog(String(decoding: data, as: UTF8.self))
        }
    }

    /// Whether a `bootstatus` text has `WDIOF_CARDRESET` set. Pure.
    public static func bootstatusSaysWatchdog(_ text: String) -> Bool {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let value = trimmed.hasPrefix("0x") ? Int(trimmed.dropFirst(2), radix: 16) : Int(trimmed)
        return (value ?? 0) & cardReset != 0
    }
}
