import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import PanicCore

/// Traccar's OsmAnd protocol over HTTP(S): one `POST url?id=…&lat=…` per record, in order; a 200 acknowledges that
/// record. The first failure (connection, deadline, any other status — Traccar answers 400 for an unknown device)
/// stops the delivery: the records before it are acknowledged, it and the rest stay pending.
public final class OsmAndTransport: RecordTransport {
    private let client: HTTPClient
    private let url: String
    private let options: OsmAndOptions

    /// A transport posting to `url` (Traccar's OsmAnd port, e.g. `http://traccar:5055/`), its connections on
    /// `eventLoopGroup`.
    public init(
        url: String, options: OsmAndOptions, trust: TrustRoots, connectTimeout: Duration = .seconds(5),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        client = HTTPClient.uplink(trust: trust, connectTimeout: connectTimeout, eventLoopGroup: eventLoopGroup)
        self.url = url
        self.options = options
    }

    /// The request URL for `outgoing`, or nil when it is not sent here (health; help and its `cleared` record when
    /// `send_help: false`).
    public func requestURL(for outgoing: OutgoingRecord) -> String? {
        if !options.sendHelp, outgoing.isHelp { return nil }
        return requestURL(for: outgoing.record)
    }

    /// The request URL for `record`, or nil when OsmAnd does not carry it (health).
    public func requestURL(for record: Record) -> String? {
        guard let items = OsmAnd.items(for: record, id: options.deviceID) else { return nil }
        let separator = url.contains("?") ? "&" : "?"
        return url + separator + OsmAnd.query(items)
    }

    public func deliver(_ records: [OutgoingRecord], timeout: Duration) async -> ReceiverReport {
        for (index, outgoing) in records.enumerated() {
            guard let target = requestURL(for: outgoing) else { continue }
            do {
                let request = try HTTPClient.Request(url: target, method: .POST)
                let response = try await HTTPClient.answer(
                    to: request, maxBodySize: 64 << 10, timeout: timeout, on: client)
                guard response.status == .ok else {
                    return ReceiverReport(
                        acknowledged: index, failure: "HTTP \(response.status.code) from OsmAnd server \(url)")
                }
            } catch {
                return ReceiverReport(
                    acknowledged: index, failure: "OsmAnd server \(url): \(UplinkTransportError.describe(error))")
            }
        }
        return ReceiverReport(acknowledged: records.count)
    }

    public func shutdown() async throws { try await client.shutdown() }
}
