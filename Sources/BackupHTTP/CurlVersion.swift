import CCurl

extension HTTPClient {
    /// The version of libcurl this process runs with, like `8.14.1`. The corresponding C function is
    /// `curl_version_info`.
    public static var curlVersion: String {
        guard let info = cbk_curl_version_info(), let version = info.pointee.version else { return "unknown" }
        return String(cString: version)
    }
}
