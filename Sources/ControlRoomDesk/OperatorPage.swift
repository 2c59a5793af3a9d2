import ControlRoomKit

/// The operator desk's pages: a login form, and the desk itself — open alerts as rows updated in place (keyed by
/// alert, never rebuilt, so a click is never lost to a redraw), a Leaflet map with each alert's current position
/// and track, the alarm, the audit of the selected alert, clear with a reason, dispatch, history and device
/// health. Plain HTML and JavaScript, no external resources (control rooms are often offline): Leaflet comes
/// from the control room itself (`/static/leaflet/`, Debian's libjs-leaflet). Changes are pushed over
/// Server-Sent Events (`/v1/desk/events`); the page polls `/v1/desk/alerts` only while the push channel is down.
///
/// The pages, scripts and style sheets are the files in `Assets/`, compiled into the binary by SwiftPM
/// (`resources: [.embedInCode(...)]` in Package.swift): the package ships one executable, nothing beside it.
enum OperatorPage {
    /// The login form (`/login`).
    static let login = PackageResources.login_html
    /// The login form's style sheet (`/static/desk/login.css`).
    static let loginStyle = PackageResources.login_css
    /// The login form's script (`/static/desk/login.js`).
    static let loginScript = PackageResources.login_js
    /// The desk's style sheet (`/static/desk/desk.css`).
    static let deskStyle = PackageResources.desk_css
    /// The desk's script (`/static/desk/desk.js`). Every string from a device, an account or an operator reaches
    /// the page as text (`textContent`, text nodes), never as HTML: map tooltips get a DOM node, not a string
    /// Leaflet would parse.
    static let deskScript = PackageResources.desk_js
    /// The desk (`/`).
    static let html = PackageResources.desk_html

    /// The pages' own scripts and style sheets under `/static/desk/`, by file name: served, not inline, so the
    /// pages' policy allows no inline code.
    static let files: [String: (type: String, bytes: [UInt8])] = [
        "desk.js": ("text/javascript", deskScript),
        "desk.css": ("text/css", deskStyle),
        "login.js": ("text/javascript", loginScript),
        "login.css": ("text/css", loginStyle),
    ]
}
