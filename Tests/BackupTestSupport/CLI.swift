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

/// Starts `ptc-backup arguments` and SIGKILLs it as soon as `when` returns true (polled every
/// millisecond), or once it has ended on its own. Returns whether the kill found it still running.
@discardableResult
public func ptcKilled(_ arguments: [String], extra: [String: String] = [:], when ready: () -> Bool) throws -> Bool {
    var env = ProcessInfo.processInfo.environment
    env["PLANTOCODE_DB"] = "/nonexistent/appdata.db"
    env.merge(extra) { _, new in new }
    let running = try Binary.start(Binary.ptcBackup, arguments, environment: env)
    let deadline = Date().addingTimeInterval(60)
    while !ready() && running.process.isRunning && Date() < deadline { usleep(1000) }
    let wasRunning = running.process.isRunning
    running.kill(SIGKILL)
    _ = try? running.wait(timeout: 30)
    return wasRunning
}
