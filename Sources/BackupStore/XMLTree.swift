import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A parsed XML document, small enough to hold (listings, error bodies): elements by local name and
/// namespace, as servers use different prefixes for the same namespace.
struct XMLElement: Sendable {
    var name: String
    var namespace: String?
    var text = ""
    var children: [XMLElement] = []

    /// The direct children called `name` (in `namespace`, when given).
    func all(_ name: String, in namespace: String? = nil) -> [XMLElement] {
        children.filter { $0.name == name && (namespace == nil || $0.namespace == namespace) }
    }

    func first(_ name: String, in namespace: String? = nil) -> XMLElement? {
        children.first { $0.name == name && (namespace == nil || $0.namespace == namespace) }
    }

    /// The trimmed text of the first child called `name`.
    func value(_ name: String, in namespace: String? = nil) -> String? {
        first(name, in: namespace)?.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every element below this one called `name`, depth first.
    func descendants(_ name: String, in namespace: String? = nil) -> [XMLElement] {
        children.flatMap { child in
            (child.name == name && (namespace == nil || child.namespace == namespace) ? [child] : []) + child.descendants(name, in: namespace)
        }
    }

    /// - Throws: ``StoreError`` when `data` is not well-formed XML; `what` says whose answer it was, `from`
    ///   the URL it came from.
    static func parse(_ data: Data, what: String, from location: String) throws(StoreError) -> XMLElement {
        let parser = XMLParser(data: data)
        let builder = Builder()
        parser.delegate = builder
        parser.shouldProcessNamespaces = true
        guard parser.parse(), let root = builder.root else {
            throw StoreError(.other, doing: "reading \(what)", location: location,
                             reason: "not valid XML: \(parser.parserError.map { "\($0)" } ?? "empty")")
        }
        return root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [XMLElement] = []
        var root: XMLElement?

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            stack.append(XMLElement(name: name, namespace: namespaceURI?.isEmpty == true ? nil : namespaceURI))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if !stack.isEmpty { stack[stack.count - 1].text += string }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard let element = stack.popLast() else { return }
            if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
        }
    }
}
