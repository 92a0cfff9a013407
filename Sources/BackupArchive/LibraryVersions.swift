import CArchive
import CZstd

/// The versions of the compression libraries this process runs with (loaded at run time, which may
/// differ from the headers it was built against).
public enum ArchiveLibraries {
    /// libarchive's version, like `3.7.4`. The corresponding C function is `archive_version_string`.
    public static var libarchiveVersion: String {
        let text = String(cString: archive_version_string())
        return text.hasPrefix("libarchive ") ? String(text.dropFirst("libarchive ".count)) : text
    }

    /// zstd's version, like `1.5.6`. The corresponding C function is `ZSTD_versionString`.
    public static var zstdVersion: String { String(cString: ZSTD_versionString()) }
}
