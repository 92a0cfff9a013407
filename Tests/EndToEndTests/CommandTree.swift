import BackupTestSupport
import Foundation

/// The built tool's commands, read from its `--experimental-dump-help` (swift-argument-parser's tool info):
/// each as its path of names, `["schedule", "install"]`, without `help`.
enum CommandTree {
    private struct Info: Decodable {
        struct Command: Decodable {
            var commandName: String
            var subcommands: [Command]?
        }
        var command: Command
    }

    static func paths(of binary: String = Binary.ptcBackup) throws -> [[String]] {
        let dump = try Binary.run(binary, ["--experimental-dump-help"])
        let info = try JSONDecoder().decode(Info.self, from: Data(dump.stdout.utf8))
        func walk(_ command: Info.Command, _ path: [String]) -> [[String]] {
            (command.subcommands ?? []).filter { $0.commandName != "help" }.flatMap { sub in
                [path + [sub.commandName]] + walk(sub, path + [sub.commandName])
            }
        }
        return walk(info.command, [])
    }
}
