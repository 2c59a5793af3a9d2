import Crypto
import Foundation
import PanicCore
import PanicSigning

/// Part A of the certificate for electronic records under section 63(4)(c) of the Bharatiya Sakshya Adhiniyam,
/// 2023, filled in from a bundle as one self-contained HTML page (`certificate.html`): the devices that produced
/// the records, the alert and its FIR / GD numbers, the hash report (every file's SHA-256), and places for the
/// officer's signature (Part A) and the expert's (Part B). It is printed and signed by hand; its hashes are checked
/// against the bundle by `scripts/evidence/verify.py`'s manifest check.
public enum EvidenceCertificate {
    public struct Facts: Sendable {
        public var alert: AlertView
        public var key: DeviceIdentity?
        public var metadata: DeviceMetadata?
        public var caseNumbers: CaseNumbers?
        public var controlRoom: DeviceIdentity
        public var exported: RecordTime

        public init(
            alert: AlertView, key: DeviceIdentity?, metadata: DeviceMetadata?, caseNumbers: CaseNumbers?,
            controlRoom: DeviceIdentity, exported: RecordTime
        ) {
            self.alert = alert
            self.key = key
            self.metadata = metadata
            self.caseNumbers = caseNumbers
            self.controlRoom = controlRoom
            self.exported = exported
        }
    }

    /// Text safe inside HTML element content and double-quoted attributes.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static let blank = "<span class=\"blank\">&nbsp;</span>"

    /// The page.
    public static func html(_ facts: Facts, bundle: EvidenceBundle) -> String {
        func row(_ name: String, _ value: String?) -> String {
            let shown = value.flatMap { $0.isEmpty ? nil : escape($0) } ?? blank
            return "<tr><th>\(escape(name))</th><td>\(shown)</td></tr>"
        }
        let alert = facts.alert
        let chain = bundle.chain
        let meta = facts.metadata
        let gaps = chain.gaps.isEmpty ? "none" : chain.gaps.map { "\($0[0])–\($0[1])" }.joined(separator: ", ")
        let hashRows = bundle.allFiles.filter { $0.name != "certificate.html" }.map { file in
            "<tr><td><code>\(escape(file.name))</code></td><td>\(file.data.count)</td>"
                + "<td><code>\(EvidenceBundle.hex(SHA256.hash(data: file.data)))</code></td></tr>"
        }
        let signature = """
            <table class="sign">
            <tr><th>Signature</th><td>\(blank)</td></tr><tr><th>Name</th><td>\(blank)</td></tr>
            <tr><th>Designation</th><td>\(blank)</td></tr><tr><th>Date and place</th><td>\(blank)</td></tr>
            </table>
            """
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>Section 63 certificate, alert \(escape(alert.id))</title>
            <style>
            body { font-family: serif; max-width: 60em; margin: 2em auto; }
            table { border-collapse: collapse; width: 100%; margin: 1em 0; }
            th, td { border: 1px solid #444; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
            th { width: 16em; } code { font-size: 0.85em; word-break: break-all; }
            .blank { display: inline-block; min-width: 20em; border-bottom: 1px dotted #000; }
            </style></head><body>
            <h1>Certificate under section 63(4)(c) of the Bharatiya Sakshya Adhiniyam, 2023</h1>
            <h2>Part A (to be filled by the party producing the electronic record)</h2>
            <p>I, \(blank), \(blank) (designation), state that the electronic records listed below were produced by
            the computer resources named here in the ordinary course of their use, that those resources were
            operating properly, and that the records were copied from them into this evidence bundle without change,
            as the hash report shows.</p>
            <h3>Case</h3>
            <table>
            \(row("FIR number", facts.caseNumbers?.fir))
            \(row("GD number", facts.caseNumbers?.gd))
            \(row("Alert id", alert.id))
            \(row("Alert kind", alert.kind))
            \(row("Pressed at (the box's clock)", "\(alert.pressed) (\(alert.timeSource))"))
            </table>
            <h3>The devices</h3>
            <table>
            \(row("Panic-button box: device id", alert.device))
            \(row("Its signing key (RFC 7638 thumbprint)", facts.key?.thumbprint))
            \(row("Name at the control room", meta?.name))
            \(row("Vehicle registration", meta?.registration))
            \(row("Route or location", meta?.route))
            \(row("Make", meta?.make))
            \(row("Model", meta?.model))
            \(row("Serial number / IMEI", meta?.serial))
            \(row("Control room: signing key (RFC 7638 thumbprint)", facts.controlRoom.thumbprint))
            \(row("Software", "PanicBridge \(PanicBridgeVersion.current)"))
            </table>
            <h3>What is produced</h3>
            <table>
            \(row("Records", "\(chain.records.count) records signed by the box (sequence \(chain.firstSeq) to \(chain.lastSeq)), from \(chain.from)"))
            \(row("Sequence numbers never received", gaps))
            \(row("Exported at (the control room's clock)", facts.exported.description))
            \(row("Manifest SHA-256", EvidenceBundle.hex(SHA256.hash(data: bundle.manifest))))
            </table>
            <h3>Hash report (SHA-256)</h3>
            <table><tr><th>File</th><th>Bytes</th><th>SHA-256</th></tr>
            \(hashRows.joined(separator: "\n"))
            </table>
            <p>Each file can be checked with <code>sha256sum</code>; the whole bundle with the independent
            verifier described in its documentation (signatures, hash chain, log inclusion, timestamp).</p>
            <h3>Signature of the person in charge (Part A)</h3>
            \(signature)
            <h2>Part B (to be filled by the expert)</h2>
            <p>I, \(blank), have examined the electronic records listed above. The hash values I computed are
            \(blank) and match / do not match those in Part A.</p>
            \(signature)
            </body></html>

            """
    }
}
