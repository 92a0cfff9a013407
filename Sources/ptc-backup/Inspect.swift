import ArgumentParser
import BackupCore
import BackupModel
import Foundation

extension PTCBackup {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an archive's manifest and the sessions inside it.",
            usage: "ptc-backup inspect [<options>] <archive>",
            discussion: """
                Reads only the manifest (the archive's first entry), so it is quick for any size. \
                Use `verify` to check the content.

                Examples:
                  ptc-backup inspect today.tar.zst
                  ptc-backup inspect today.tar.zst --json
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup(title: "Encrypted archives (age)") var decryption: DecryptOptionGroup

        @Argument(help: ArgumentHelp("The archive.", valueName: "archive"))
        var archive: String

        func run() throws {
            try Console.run("inspect", global) { _ in
                let manifest = try ArchiveContents.manifest(of: archive, keys: try decryption.keys())
                let bytes = (try? FileManager.default.attributesOfItem(atPath: archive)[.size] as? Int64) ?? nil
                let report = InspectReport(archive: archive, bytes: bytes ?? 0, manifest: manifest)
                Console.emit(report, global) { render(report) }
            }
        }

        private func render(_ report: InspectReport) {
            let m = report.manifest
            Console.out("Archive:   \(report.archive) (\(Console.bytes(report.bytes)))")
            Console.out("Format:    \(m.formatVersion), written by \(m.tool.name) \(m.tool.version)")
            Console.out("Created:   \(m.createdAt) on \(m.source.host)")
            Console.out("Kind:      \(m.kind.rawValue)\(selectionText(m.selection))")
            Console.out("Source:    \(m.source.databaseFile), app \(m.source.appVersion ?? "unknown"), schema \(m.source.schemaVersion ?? "unknown"), SQLite \(m.source.sqliteVersion)")
            Console.out("Tables:    " + m.tables.map { "\($0.name) \($0.rows)" }.joined(separator: ", "))
            if !m.skippedTables.isEmpty { Console.out("Not included: \(m.skippedTables.joined(separator: ", "))") }
            for entry in m.entries {
                Console.out("Entry:     \(entry.path) \(Console.bytes(entry.size)) sha256 \(entry.sha256)")
            }
            Console.out()
            Console.out("Sessions (\(m.sessions.count)):")
            guard !m.sessions.isEmpty else { return }
            let idWidth = SessionIDs.uniquePrefixLength(m.sessions.map(\.id))
            Console.out("  " + Console.column("ID", idWidth + 2) + Console.column("CREATED", 21) + Console.column("UPDATED", 21)
                        + Console.column("JOBS", 6) + Console.column("NAME", 30) + "PROJECT")
            for s in m.sessions {
                Console.out("  " + Console.column(String(s.id.prefix(idWidth)), idWidth + 2) + Console.column(s.createdAt ?? "-", 21)
                            + Console.column(s.updatedAt ?? "-", 21) + Console.column(String(s.jobs), 6) + Console.column(s.name, 30)
                            + s.projectDirectory)
            }
        }

        private func selectionText(_ selection: Manifest.Selection?) -> String {
            guard let selection else { return "" }
            var parts: [String] = []
            if !selection.sessionIDs.isEmpty { parts.append("sessions \(selection.sessionIDs.joined(separator: ", "))") }
            if !selection.projects.isEmpty { parts.append("projects \(selection.projects.joined(separator: ", "))") }
            if let age = selection.olderThan { parts.append("older than \(age)") }
            return parts.isEmpty ? "" : " (" + parts.joined(separator: "; ") + ")"
        }
    }
}
