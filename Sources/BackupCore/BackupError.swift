import BackupAge
import BackupArchive
import BackupConfig
import BackupSQLite
import BackupStore
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// The one error type of the operations layer: a sysexits code, one actionable line that says
/// what failed and where, and the lower layer's error as the cause.
///
/// The message never contains credentials or statement arguments.
public struct BackupError: Error, CustomStringConvertible, Sendable {
    /// Exit codes from sysexits(3), as SPEC.md lists them.
    public enum Code: Int32, Sendable {
        case usage = 64
        case dataError = 65
        case noInput = 66
        case unavailable = 69
        case software = 70
        case cantCreate = 73
        case ioError = 74
        case temporaryFailure = 75
        case noPermission = 77
        case config = 78
    }

    public let code: Code
    public let message: String
    public let cause: (any Error & Sendable)?
    public let file: String
    public let line: Int

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil,
                file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.cause = cause
        self.file = file
        self.line = line
    }

    public var description: String { message }

    /// The message with the cause and where it was raised, for `-vv`.
    public var expandedDescription: String {
        var text = message
        if let cause { text += "\n  cause: \(cause)" }
        text += "\n  at: \(file):\(line)"
        return text
    }

    public static func usage(_ message: String) -> BackupError { BackupError(.usage, message) }
}

extension BackupError {
    /// Classifies an SQLite failure on the database at `path` while `doing` something.
    static func sqlite(_ error: SQLiteError, _ doing: String, path: String, file: String = #fileID, line: Int = #line) -> BackupError {
        let code: Code
        let what: String
        if error.isHotJournal {
            code = .temporaryFailure
            what = "\(path) holds an interrupted write (a hot journal) that only a writer can roll back; open it once with PlanToCode (or `sqlite3 \(path) 'PRAGMA quick_check'`), then try again"
        } else if error.isBusy {
            code = .temporaryFailure
            what = "\(path) is locked by another process (\(error.message)); try again later"
        } else if error.isNotADatabase {
            code = .dataError
            what = "\(path) is not an SQLite database"
        } else if error.isCorrupt {
            code = .dataError
            what = "\(path) is damaged: \(error.message)"
        } else if error.isFull {
            code = .ioError
            what = "no space left while \(doing) (\(path))"
        } else if error.isCantOpen {
            code = FileSystem.exists(path) ? .noPermission : .noInput
            what = "cannot open \(path): \(error.message)"
        } else if error.isIOError {
            code = .ioError
            what = "I/O error on \(path): \(error.message)"
        } else if error.isPermission || error.isReadOnly {
            code = .noPermission
            what = "permission denied on \(path): \(error.message)"
        } else {
            code = .software
            what = "\(error.message) on \(path)"
        }
        return BackupError(code, "\(doing): \(what)", cause: error, file: file, line: line)
    }

    /// Runs an operation's body at the module's boundary, where everything thrown becomes a ``BackupError``:
    /// those pass through, a library's error is classified, and anything else (a bug of ours) is `software`
    /// (exit 70) with what was being done, never a bare Foundation error.
    static func atBoundary<T>(_ doing: String, _ body: () throws -> T) throws(BackupError) -> T {
        do {
            return try body()
        } catch let error as BackupError {
            throw error
        } catch let error as SQLiteError {
            throw BackupError.sqlite(error, doing, path: "the database")
        } catch let error as ArchiveError {
            throw BackupError.archive(error, doing, path: error.context, writing: false)
        } catch let error as StoreError {
            throw BackupError(error)
        } catch let error as ConfigError {
            throw BackupError(error)
        } catch {
            throw BackupError(.software, "internal error while \(doing): \(error)")
        }
    }

    /// ``sqlite(_:_:path:file:line:)`` for a failure of any kind from code that mixes SQLite calls with
    /// operations of this layer: a ``BackupError`` passes through unchanged.
    static func sqlite(_ error: any Error, _ doing: String, path: String, file: String = #fileID, line: Int = #line) -> BackupError {
        if let error = error as? BackupError { return error }
        if let error = error as? SQLiteError { return sqlite(error, doing, path: path, file: file, line: line) }
        return BackupError(.software, "\(doing): \(error) (\(path))", file: file, line: line)
    }

    /// Classifies a libarchive failure on `path` while `doing` something.
    static func archive(_ error: ArchiveError, _ doing: String, path: String, writing: Bool,
                        file: String = #fileID, line: Int = #line) -> BackupError {
        if let age = error.underlying as? AgeError { return BackupError(age, path: path, file: file, line: line) }
        if writing {
            if error.isNoSpace {
                return BackupError(.ioError, "\(doing): no space left on the device for \(path)", cause: error, file: file, line: line)
            }
            return BackupError(.ioError, "\(doing): \(error.message) (\(path))", cause: error, file: file, line: line)
        }
        if error.errno == ENOENT {
            return BackupError(.noInput, "\(doing): \(path) does not exist", cause: error, file: file, line: line)
        }
        if error.errno == EACCES {
            return BackupError(.noPermission, "\(doing): permission denied reading \(path)", cause: error, file: file, line: line)
        }
        return BackupError(.dataError, "\(doing): \(path) is not a readable archive: \(error.message)", cause: error, file: file, line: line)
    }

    /// ``posix(_:_:path:creating:file:line:)`` for what swift-system threw: an `Errno`, or anything else
    /// (reported as an I/O error).
    static func posix(_ error: any Error, _ doing: String, path: String, creating: Bool,
                      file: String = #fileID, line: Int = #line) -> BackupError {
        guard let error = error as? Errno else { return BackupError(.ioError, "\(doing): \(error) (\(path))", file: file, line: line) }
        return posix(error.rawValue, doing, path: path, creating: creating, file: file, line: line)
    }

    /// Classifies an errno from a file operation.
    static func posix(_ errnoCode: Int32, _ doing: String, path: String, creating: Bool,
                      file: String = #fileID, line: Int = #line) -> BackupError {
        let reason = String(cString: strerror(errnoCode))
        let code: Code
        switch errnoCode {
        case ENOSPC, EFBIG, EDQUOT: code = .ioError
        case EACCES, EPERM, EROFS: code = creating ? .cantCreate : .noPermission
        case ENOENT: code = creating ? .cantCreate : .noInput
        case ENOTDIR, EISDIR, EEXIST: code = creating ? .cantCreate : .noInput
        default: code = .ioError
        }
        return BackupError(code, "\(doing): \(reason) (\(path))", file: file, line: line)
    }
}

extension BackupError {
    /// The exit code of a store's failure, by its kind: the one table for every store (local, WebDAV, S3).
    public init(_ error: StoreError, file: String = #fileID, line: Int = #line) {
        let code: Code = switch error.kind {
        case .notFound: .noInput
        case .refused: .noPermission
        case .unavailable: .unavailable
        case .cantCreate: .cantCreate
        case .noSpace: .ioError
        case .other: .ioError
        }
        self.init(code, error.message, cause: error, file: file, line: line)
    }
}

extension BackupError {
    /// A mistake in the config file: exit 78 (EX_CONFIG), with file, line and key.
    public init(_ error: ConfigError, file: String = #fileID, line: Int = #line) {
        self.init(.config, error.description, cause: error, file: file, line: line)
    }
}
