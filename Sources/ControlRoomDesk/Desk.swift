import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import PanicCore
import Synchronization

/// How a desk is set up.
public struct DeskConfiguration: Sendable {
    /// A tile URL template for the map (`https://tiles.example/{z}/{x}/{y}.png`, an operator's own server); nil
    /// draws markers and tracks on a plain grid.
    public var tileURL: String?
    /// An open emergency nobody accepted within this time is escalated on the page.
    public var escalateAfter: Duration
    /// Where Debian's `libjs-leaflet` puts Leaflet.
    public var leafletDirectory: String
    /// Whether cookies carry `Secure` (the server speaks TLS).
    public var secureCookies: Bool
    /// How often an idle push stream sends a comment line (and checks its session or token again).
    public var heartbeat: Duration
    /// Most push streams open at once per session or API token; opening one more closes the oldest.
    public var streamsPerCredential: Int
    /// `Strict-Transport-Security: max-age=…` on every desk answer, or nil to send none. `controlroom serve`
    /// sets a year when it serves TLS itself (`--tls-cert`); behind a TLS-terminating proxy the proxy sends it.
    public var strictTransportSecurity: Duration?
    /// The RFC 3161 time-stamping authority an evidence export's manifest is sent to (`--tsa-url`); nil: none.
    public var tsaURL: String?
    /// Who is notified of an emergency nobody accepted (nil: nobody, the page only blinks). Its `after` is
    /// `escalateAfter`'s counterpart for the notifications; `controlroom serve` sets both from --escalate-after.
    public var escalation: EscalationConfiguration?
    /// A local tileset (`--tiles FILE`) served at `/tiles/{z}/{x}/{y}.{format}` behind the desk's login; the map
    /// uses it in place of `tileURL`.
    public var tiles: MBTiles?
    /// How often the page asks for the vehicles that moved (`GET /v1/desk/vehicles`) when no push came sooner.
    public var vehicleRefresh: Duration = .seconds(10)

    /// The map's tile URL template: the local tileset's when there is one, else `tileURL`.
    public var mapTileURL: String? { tiles?.urlTemplate ?? tileURL }

    public init(
        tileURL: String? = nil, escalateAfter: Duration = .seconds(60),
        leafletDirectory: String = "/usr/share/javascript/leaflet", secureCookies: Bool = false,
        heartbeat: Duration = .seconds(15), streamsPerCredential: Int = 4, strictTransportSecurity: Duration? = nil,
        tsaURL: String? = nil
    ) {
        self.tsaURL = tsaURL
        self.tileURL = tileURL
        self.escalateAfter = escalateAfter
        self.leafletDirectory = leafletDirectory
        self.secureCookies = secureCookies
        self.heartbeat = heartbeat
        self.streamsPerCredential = streamsPerCredential
        self.strictTransportSecurity = strictTransportSecurity
    }
}

/// The operator desk over a control room: sessions and login throttling, the change signal behind the push
/// channel, and the decoded tracks of open alerts. `install(on:)` adds its routes to the control room's router.
public final class Desk: Sendable {
    public let room: ControlRoom
    /// The desk's part of the store (`DeskStore`): what the desk reads and writes itself, never the whole store.
    public let store: any DeskStore
    public let sessions: DeskSessions
    public let signal = DeskSignal()
    public let configuration: DeskConfiguration
    let clock: any MonotonicClock
    /// The login budgets (per source, per name at a source, in flight), checked before any password is hashed.
    let logins: Mutex<LoginBudget>
    /// Where passwords are checked: a thread of its own.
    public let hasher: PasswordHasher
    let tracks = DeskTracks()
    /// The desk's state, computed once per change for every push stream.
    public let broadcast: DeskBroadcast
    /// The open push streams, at most `configuration.streamsPerCredential` per session or token.
    let streams: DeskStreams
    /// Which devices' positions the pages show: a stored batch wakes them only then (`DeskWatch`).
    let watch = Mutex(DeskWatch())
    /// The push channel's place on the room's change stream, cancelled when the desk ends.
    private let subscription = Mutex<ControlRoomChanges.Subscription?>(nil)

    public init(
        room: ControlRoom, configuration: DeskConfiguration = DeskConfiguration(),
        clock: any MonotonicClock = SystemMonotonicClock(), logins: LoginBudget.Limits = LoginBudget.Limits(),
        hasher: PasswordHasher = PasswordHasher()
    ) {
        self.room = room
        store = room.store
        self.configuration = configuration
        self.clock = clock
        self.logins = Mutex(LoginBudget(logins))
        self.hasher = hasher
        sessions = DeskSessions(store: store, wallClock: room.wallClock)
        broadcast = DeskBroadcast(signal: signal)
        streams = DeskStreams(limit: configuration.streamsPerCredential)
        let subscription = room.changes.subscribe { [weak self] change in self?.changed(change) }
        self.subscription.withLock { $0 = subscription }
    }

    /// Leaves the room's change stream: a desk dropped while its room lives is not called again.
    deinit { subscription.withLock { $0 }?.cancel() }

    /// Push streams open now.
    public var openStreams: Int { streams.count }

    static let cookieName = DeskSessions.cookieName

    /// Who is asking, or why not: 401 without a session or token, 403 for a wrong CSRF token, a cross-site or
    /// non-JSON state-changing request, or a role below `role`.
    func authorize(_ request: Request, _ role: DeskRole, changes: Bool = false) async throws -> DeskAccount {
        let caller = try await sessions.caller(of: request, room: room)
        if changes, let csrf = caller.csrf { try Desk.checkSameOrigin(request, csrf: csrf) }
        try DeskSessions.require(role, of: caller.account)
        return caller.account
    }

    /// The CSRF rules for a cookie-authenticated change: not cross-site (Sec-Fetch-Site, Origin), a JSON body
    /// (an HTML form cannot send one), and the session's token in `X-CSRF-Token`.
    static func checkSameOrigin(_ request: Request, csrf: String) throws {
        if let site = request.headers[secFetchSite], site != "same-origin", site != "none" {
            throw HTTPError(.forbidden, message: "cross-site request refused (Sec-Fetch-Site: \(site))")
        }
        if let origin = request.headers[.origin], let host = request.head.authority {
            let bare = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first
            guard bare.map(String.init) == host else {
                throw HTTPError(.forbidden, message: "cross-site request refused (Origin \(origin))")
            }
        }
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces)
        guard type?.lowercased() == "application/json" else {
            throw HTTPError(.forbidden, message: "a change must be sent as application/json")
        }
        guard let token = request.headers[csrfHeader], constantTimeEqual(token, csrf) else {
            throw HTTPError(.forbidden, message: "missing or wrong CSRF token (X-CSRF-Token)")
        }
    }

    static let csrfHeader = HTTPFields.Element.Name("X-CSRF-Token")!
    static let secFetchSite = HTTPFields.Element.Name("Sec-Fetch-Site")!

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// The session id the request's cookie carries (Hummingbird's cookie parser), if any.
    static func sessionID(in request: Request) -> String? {
        request.cookies[cookieName]?.value
    }

    /// The session cookie: a browser session cookie (no Max-Age or Expires: closing the browser ends it; the
    /// server ends the session itself after `DeskSessions.idle` without use or `lifetime` after login). `expired`
    /// deletes it (logout).
    func sessionCookie(_ value: String, expired: Bool = false) -> Cookie {
        Cookie(
            name: Desk.cookieName, value: value, maxAge: expired ? 0 : nil, path: "/",
            secure: configuration.secureCookies, httpOnly: true, sameSite: .strict)
    }
}
