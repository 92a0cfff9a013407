import Foundation

/// Runs the built `ptc-backup` the way the end-to-end tests do: the user's environment with
/// `PLANTOCODE_DB` pointing nowhere (unless `environment` names one), so that no test ever touches a real
/// PlanToCode database; `extra` variables on top.
public func ptc(_ arguments: [String], environment: [String: String]? = nil, extra: [String: String] = [:],
                cwd: String? = nil, timeout: TimeInterval = 120) throws -> ProcessResult {
    var env = environment ?? ProcessInfo.processInfo.environment
    if environment == nil || env["PLANTOCODE_DB"] == nil { env["PLANTOCODE_DB"] = "/nonexistent/appdata.db" }
    env.merge(extra) { _, new in new }
    return try Binary.run(Binary.ptcBackup, arguments, environment: env, currentDirectory: cwd, timeout: timeout)
}
