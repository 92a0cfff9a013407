import BackupArchive
import BackupHTTP
import BackupModel
import BackupSQLite

extension ToolVersion {
    /// The libraries this process runs with and their versions, read from the loaded libraries
    /// (`sqlite3_libversion`, `archive_version_string`, `ZSTD_versionString`, `curl_version_info`).
    public static var libraries: [(name: String, version: String)] {
        [("SQLite", Connection.libraryVersion), ("libarchive", ArchiveLibraries.libarchiveVersion),
         ("zstd", ArchiveLibraries.zstdVersion), ("libcurl", HTTPClient.curlVersion)]
    }

    /// What `--version` prints: `ptc-backup X.Y.Z` on the first line (for scripts), then the archive
    /// format this version writes and the libraries it runs with.
    public static var report: String {
        """
        \(name) \(version)
        archive format \(Manifest.currentFormatVersion)
        \(libraries.map { "\($0.name) \($0.version)" }.joined(separator: ", "))
        """
    }
}
