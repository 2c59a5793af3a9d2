import ControlRoomKit
import Foundation
import Hummingbird

extension Desk {
    /// The desk's side of staged rollouts (docs/configuration.md → *Staged rollouts*): per-device configuration
    /// status and the rollouts for every role; starting, resuming and aborting one for admins only, with the CSRF
    /// rules of every change.
    func installRollouts(on routes: DeskRouteGroups) {
        routes.operators.get("/v1/config/status") { [self] request, _ -> Response in
            let query = request.uri.queryParameters
            let group = query.get("group").flatMap { $0.isEmpty ? nil : $0 }
            // Paged like the device lists when asked (`?after=&limit=`), as the desk's device table does.
            var page: DevicePageRequest?
            if query.get("after") != nil || query.get("limit") != nil {
                switch DevicePageRequest.parse(after: query.get("after"), limit: query.get("limit")) {
                case .success(let request): page = request
                case .failure(let error):
                    return ControlRoomServer.json(["error": error.description], status: .badRequest)
                }
            }
            return ControlRoomServer.json(try await room.configStatus(group: group, page: page))
        }
        routes.operators.get("/v1/rollouts") { [self] request, _ -> Response in
            return ControlRoomServer.json(try await room.rollouts())
        }
        struct NewRollout: Decodable {
            var group: String
            var settings: String
            var stages: String?
            var maxFailed: String?
            var wait: String?
        }
        routes.admins.post("/v1/rollouts") { [self] request, context -> Response in
            let account = try context.account()
            let body = try await Desk.decode(NewRollout.self, request, context)
            return try await answer {
                let rollout = try await room.startConfigRollout(
                    group: body.group, settings: body.settings,
                    stages: try RolloutPlan.stages(body.stages ?? "1,10,100"),
                    maxFailedPercent: try RolloutPlan.maxFailed(body.maxFailed ?? "10%"),
                    waitMs: try RolloutPlan.wait(body.wait ?? "30m"), by: AuditActor(account), reason: "from the desk")
                return ControlRoomServer.json(try await room.rolloutStatus(id: rollout.id))
            }
        }
        routes.admins.post("/v1/rollouts/:id/:action") { [self] request, context -> Response in
            let account = try context.account()
            guard let id = Int64(try context.parameters.require("id")) else {
                throw HTTPError(.badRequest, message: "a rollout id is a number")
            }
            let action = try context.parameters.require("action")
            return try await answer {
                switch action {
                case "resume": try await room.resumeRollout(id: id, by: AuditActor(account))
                case "abort": try await room.abortRollout(id: id, by: AuditActor(account), reason: "from the desk")
                default: throw HTTPError(.notFound, message: "no action '\(action)' (resume, abort)")
                }
                return ControlRoomServer.json(try await room.rolloutStatus(id: id))
            }
        }
    }

    /// The desk's update rollouts (docs/updates.md → *Update rollouts*), when the control room serves packages
    /// (`serve --updates DIR`): the packages the console stored and described (`controlroom update push`), and
    /// starting a staged rollout of one, picked by its SHA-256 or file name, for admins only with the CSRF rules of
    /// every change. The desk takes no upload: a package comes only from the console, checked with dpkg-deb there.
    public func installUpdateRollouts(_ packages: UpdatePackages, on router: Router<ControlRoomRequestContext>) {
        let routes = DeskRouteGroups(router: router, desk: self)
        routes.admins.get("/v1/update-packages") { _, _ -> Response in
            return ControlRoomServer.json(packages.catalogue())
        }
        struct NewUpdateRollout: Decodable {
            var group: String
            var package: String
            var floor: String?
            var stages: String?
            var maxFailed: String?
            var wait: String?
        }
        routes.admins.post("/v1/update-rollouts") { [self] request, context -> Response in
            let account = try context.account()
            let body = try await Desk.decode(NewUpdateRollout.self, request, context)
            return try await answer {
                let artifact = try packages.find(body.package)
                let floor = body.floor.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
                let rollout = try await room.startUpdateRollout(
                    group: body.group, artifact: artifact, floor: floor,
                    stages: try RolloutPlan.stages(body.stages ?? "1,10,100"),
                    maxFailedPercent: try RolloutPlan.maxFailed(body.maxFailed ?? "10%"),
                    waitMs: try RolloutPlan.wait(body.wait ?? "30m"), by: AuditActor(account), reason: "from the desk")
                return ControlRoomServer.json(try await room.rolloutStatus(id: rollout.id))
            }
        }
    }

    /// Runs `body`, answering a refused rollout with its problem named (404 for an unknown one, 409 for a state that
    /// does not allow it, 400 for bad parameters).
    private func answer(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch let error as RolloutError {
            let status: HTTPResponse.Status
            switch error {
            case .unknownRollout: status = .notFound
            case .notPaused, .finished, .conflict: status = .conflict
            default: status = .badRequest
            }
            return ControlRoomServer.json(["error": error.description], status: status)
        } catch let error as DeskError {
            return ControlRoomServer.json(["error": error.description], status: .badRequest)
        } catch let error as ControlRoomError {
            return ControlRoomServer.json(["error": error.description], status: .conflict)
        }
    }
}
