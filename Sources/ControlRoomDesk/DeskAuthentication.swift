import ControlRoomKit
import Hummingbird

/// Who may call a desk route, decided once per route group instead of once per handler: the group's middleware
/// authenticates the request (`Desk.authorize`: a session cookie or an API token), requires the group's role, and
/// for anything but GET and HEAD the CSRF rules of a cookie session; the account found goes in the request context
/// (`ControlRoomRequestContext.deskAccount`) for the handler. A route added to a group cannot forget the check;
/// `DeskRouteTableTests` runs an attacker against every route the router holds.
struct DeskAuthentication: RouterMiddleware {
    typealias Context = ControlRoomRequestContext

    let desk: Desk
    let role: DeskRole

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let changes = request.method != .get && request.method != .head
        context.deskAccount = try await desk.authorize(request, role, changes: changes)
        return try await next(request, context)
    }
}

/// The desk's routes by who may call them. `open` is for the few routes that check for themselves (the login, the
/// page that redirects to it, static files); every other route goes in the group of its role.
struct DeskRouteGroups {
    typealias Context = ControlRoomRequestContext

    let open: Router<Context>
    let operators: RouterGroup<Context>
    let supervisors: RouterGroup<Context>
    let admins: RouterGroup<Context>

    init(router: Router<Context>, desk: Desk) {
        open = router
        operators = router.group().add(middleware: DeskAuthentication(desk: desk, role: .operator))
        supervisors = router.group().add(middleware: DeskAuthentication(desk: desk, role: .supervisor))
        admins = router.group().add(middleware: DeskAuthentication(desk: desk, role: .admin))
    }
}

extension ControlRoomRequestContext {
    /// The account `DeskAuthentication` found for this request (401 on a route outside the desk's groups).
    func account() throws -> DeskAccount {
        guard let deskAccount else { throw HTTPError(.unauthorized, message: "log in first") }
        return deskAccount
    }
}
