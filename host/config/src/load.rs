//! Reading manifests: files, directories and standard input; splitting them into documents;
//! parsing each document (in parallel for large inputs) and dispatching it by `apiVersion` and
//! `kind` to the structs of `raw.rs`. Lines of diagnostics are resolved at the end by walking the
//! document again, so that nothing is kept per field while loading.

use crate::de::{Problems, from_node};
use crate::diag::{Diagnostic, Severity, SkippedObject};
use crate::model::{ObjectRef, Origin};
use crate::raw::RawObject;
use crate::yaml::{self, Chunk, Node, Value};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where manifests come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file, or a directory whose `.yaml`, `.yml` and `.json` files are read in name order (not
    /// recursively, as `kubectl apply -f DIR`).
    Path(PathBuf),
    /// Standard input (`-f -`).
    Stdin,
    /// Text in memory, with the name to show in diagnostics.
    Text {
        /// The name shown in diagnostics.
        name: String,
        /// The manifests.
        text: String,
    },
}

impl Source {
    /// `-` is standard input, anything else a path (what `-f` means to kubectl).
    pub fn from_arg(arg: &Path) -> Source {
        if arg.as_os_str() == "-" { Source::Stdin } else { Source::Path(arg.to_path_buf()) }
    }
}

/// A source read into memory.
pub(crate) struct SourceFile {
    pub name: String,
    pub text: String,
}

/// One document: a chunk of a file.
pub(crate) struct Doc {
    pub file: usize,
    pub chunk: Chunk,
}

/// What a diagnostic is about before its line is known.
#[derive(Debug, Clone)]
pub(crate) enum Subject {
    /// An object (index into the loaded objects).
    Object(usize),
    /// A document or file, and what it says it is when known (kind, namespace, name).
    Place { file: usize, who: Option<(String, String, String)> },
}

/// A diagnostic whose line may still have to be found.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub severity: Severity,
    pub subject: Subject,
    pub field: String,
    pub line: Option<u32>,
    pub message: String,
}

/// The identity and place of a loaded object.
#[derive(Debug, Clone)]
pub(crate) struct ObjInfo {
    /// The kind as Kubernetes spells it (`IPAddressPool`).
    pub kind: &'static str,
    /// Namespace (defaulted to `default` for namespaced kinds) and name.
    pub id: ObjectRef,
    /// The document.
    pub doc: usize,
    /// Which document of the chunk (almost always 0).
    pub root: usize,
    /// The path of the object inside the document (`items[3]` in a List, else empty).
    pub prefix: String,
    /// File and line of the object.
    pub origin: Origin,
}

/// A loaded object.
pub(crate) struct Loaded {
    pub info: ObjInfo,
    pub raw: RawObject,
}

/// Everything read from the sources, before validation.
pub(crate) struct Input {
    pub files: Vec<SourceFile>,
    pub docs: Vec<Doc>,
    pub objects: Vec<Loaded>,
    pub pending: Vec<Pending>,
    pub skipped: Vec<SkippedObject>,
}

/// Read every source (unreadable ones become diagnostics).
pub(crate) fn read_sources(sources: &[Source]) -> (Vec<SourceFile>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diags = Vec::new();
    let mut fail = |name: String, message: String| {
        diags.push(Diagnostic {
            severity: Severity::Error,
            kind: String::new(),
            namespace: String::new(),
            name: String::new(),
            field: String::new(),
            file: name,
            line: 0,
            message,
        });
    };
    for source in sources {
        match source {
            Source::Text { name, text } => files.push(SourceFile { name: name.clone(), text: text.clone() }),
            Source::Stdin => {
                let mut bytes = Vec::new();
                match std::io::stdin().read_to_end(&mut bytes) {
                    Ok(_) => match String::from_utf8(bytes) {
                        Ok(text) => files.push(SourceFile { name: "<stdin>".into(), text }),
                        Err(_) => fail("<stdin>".into(), "not UTF-8 text".into()),
                    },
                    Err(e) => fail("<stdin>".into(), format!("cannot read: {e}")),
                }
            }
            Source::Path(path) => {
                if path.is_dir() {
                    match list_dir(path) {
                        Ok(entries) if entries.is_empty() => {
                            fail(path.display().to_string(), "no .yaml, .yml or .json file in this directory".into());
                        }
                        Ok(entries) => {
                            for p in entries {
                                match read_file(&p) {
                                    Ok(f) => files.push(f),
                                    Err(m) => fail(p.display().to_string(), m),
                                }
                            }
                        }
                        Err(e) => fail(path.display().to_string(), format!("cannot read directory: {e}")),
                    }
                } else {
                    match read_file(path) {
                        Ok(f) => files.push(f),
                        Err(m) => fail(path.display().to_string(), m),
                    }
                }
            }
        }
    }
    (files, diags)
}

fn list_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if path.is_file() && matches!(ext, "yaml" | "yml" | "json") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn read_file(path: &Path) -> Result<SourceFile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    Ok(SourceFile { name: path.display().to_string(), text })
}

/// Split and parse every file.
pub(crate) fn parse(files: Vec<SourceFile>) -> Input {
    let mut docs = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let text = f.text.strip_prefix('\u{feff}').unwrap_or(&f.text);
        let skip = f.text.len() - text.len();
        for mut chunk in yaml::split_documents(text) {
            chunk.start += skip;
            chunk.end += skip;
            docs.push(Doc { file: i, chunk });
        }
    }

    let outs = parse_docs(&files, &docs);
    let mut input = Input { files, docs, objects: Vec::new(), pending: Vec::new(), skipped: Vec::new() };
    for out in outs {
        for p in out.pending {
            input.pending.push(p);
        }
        input.skipped.extend(out.skipped);
        for (info, raw, problems) in out.objects {
            let index = input.objects.len();
            for p in problems {
                input.pending.push(Pending {
                    severity: if p.is_error { Severity::Error } else { Severity::Warning },
                    subject: Subject::Object(index),
                    field: p.path,
                    line: Some(p.line),
                    message: p.message,
                });
            }
            input.objects.push(Loaded { info, raw });
        }
    }
    input
}

#[derive(Default)]
struct DocOut {
    objects: Vec<(ObjInfo, RawObject, Vec<crate::de::Problem>)>,
    pending: Vec<Pending>,
    skipped: Vec<SkippedObject>,
}

fn parse_docs(files: &[SourceFile], docs: &[Doc]) -> Vec<DocOut> {
    let work = |range: &[Doc], base: usize| -> Vec<DocOut> {
        range.iter().enumerate().map(|(i, d)| parse_doc(files, d, base + i)).collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(8);
    if threads <= 1 || docs.len() < 512 {
        return work(docs, 0);
    }
    // Split by bytes so that the threads get similar amounts of text.
    let total: usize = docs.iter().map(|d| d.chunk.end - d.chunk.start).sum();
    let per = total / threads + 1;
    let mut bounds = vec![0];
    let mut acc = 0;
    for (i, d) in docs.iter().enumerate() {
        acc += d.chunk.end - d.chunk.start;
        if acc >= per * bounds.len() && i + 1 < docs.len() {
            bounds.push(i + 1);
        }
    }
    bounds.push(docs.len());
    bounds.dedup();
    std::thread::scope(|s| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0], w[1]);
                s.spawn(move || work(&docs[a..b], a))
            })
            .collect();
        let mut out = Vec::with_capacity(docs.len());
        for (h, w) in handles.into_iter().zip(bounds.windows(2)) {
            match h.join() {
                Ok(part) => out.extend(part),
                // A panic in a parser thread: parse that part again here, so the panic surfaces.
                Err(_) => out.extend(work(&docs[w[0]..w[1]], w[0])),
            }
        }
        out
    })
}

fn parse_doc(files: &[SourceFile], doc: &Doc, doc_index: usize) -> DocOut {
    let mut out = DocOut::default();
    let Some(file) = files.get(doc.file) else { return out };
    let text = file.text.get(doc.chunk.start..doc.chunk.end).unwrap_or_default();
    match yaml::parse_documents(text, doc.chunk.first_line) {
        Ok(nodes) => {
            for (root, node) in nodes.into_iter().enumerate() {
                dispatch(node, file, doc, (doc_index, root), "", &mut out);
            }
        }
        Err(e) => out.pending.push(Pending {
            severity: Severity::Error,
            subject: Subject::Place { file: doc.file, who: None },
            field: String::new(),
            line: Some(e.line),
            message: format!("YAML syntax error: {}", e.message),
        }),
    }
    out
}

/// The kinds ferrolb reads: (group, versions, kind, namespaced).
const KINDS: &[(&str, &[&str], &str, bool)] = &[
    ("metallb.io", &["v1beta1"], "IPAddressPool", true),
    ("metallb.io", &["v1beta1"], "AddressPool", true),
    ("metallb.io", &["v1beta1"], "BGPAdvertisement", true),
    ("metallb.io", &["v1beta1"], "L2Advertisement", true),
    ("metallb.io", &["v1beta1"], "Community", true),
    ("metallb.io", &["v1beta1"], "BFDProfile", true),
    ("metallb.io", &["v1beta2", "v1beta1"], "BGPPeer", true),
    ("metallb.io", &["v1beta1"], "MetalLB", true),
    ("frrk8s.metallb.io", &["v1beta1"], "FRRConfiguration", true),
    ("k8s.ovn.org", &["v1"], "EgressService", true),
    ("nmstate.io", &["v1", "v1beta1"], "NodeNetworkConfigurationPolicy", false),
    ("", &["v1"], "Service", true),
    ("", &["v1"], "Node", false),
    ("", &["v1"], "Namespace", false),
    ("discovery.k8s.io", &["v1"], "EndpointSlice", true),
];

fn dispatch(node: Node, file: &SourceFile, doc: &Doc, at: (usize, usize), prefix: &str, out: &mut DocOut) {
    let place_err =
        |out: &mut DocOut, who: Option<(String, String, String)>, field: &str, line: u32, message: String| {
            let field = match (prefix.is_empty(), field.is_empty()) {
                (true, _) => field.to_string(),
                (false, true) => prefix.to_string(),
                (false, false) => format!("{prefix}.{field}"),
            };
            out.pending.push(Pending {
                severity: Severity::Error,
                subject: Subject::Place { file: doc.file, who },
                field,
                line: Some(line),
                message,
            });
        };
    if !matches!(node.value, Value::Map(_)) {
        place_err(out, None, "", node.line, format!("a manifest must be an object, found {}", node.type_name()));
        return;
    }
    let meta = node.get("metadata");
    let name = meta.and_then(|m| m.get_str("name")).unwrap_or_default().to_string();
    let namespace = meta.and_then(|m| m.get_str("namespace")).unwrap_or_default().to_string();
    let (api_version, kind) =
        (node.get_str("apiVersion").map(str::to_string), node.get_str("kind").map(str::to_string));
    let (api_version, kind) = (api_version.as_deref(), kind.as_deref());
    let who = |k: &str| Some((k.to_string(), namespace.clone(), name.clone()));
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        if kind.is_none() {
            let line = node.get("kind").map_or(node.line, |n| n.line);
            place_err(out, who(""), "kind", line, "kind is required (a string)".into());
        }
        if api_version.is_none() {
            let line = node.get("apiVersion").map_or(node.line, |n| n.line);
            place_err(
                out,
                who(kind.unwrap_or_default()),
                "apiVersion",
                line,
                "apiVersion is required (a string)".into(),
            );
        }
        return;
    };
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));

    if kind == "List" || (kind.ends_with("List") && node.get("items").is_some()) {
        let line = node.line;
        let items = match node.value {
            Value::Map(entries) => entries.into_iter().find(|e| e.key == "items").map(|e| e.value.value),
            _ => None,
        };
        match items {
            Some(Value::Seq(items)) => {
                for (i, item) in items.into_iter().enumerate() {
                    let p = if prefix.is_empty() { format!("items[{i}]") } else { format!("{prefix}.items[{i}]") };
                    dispatch(item, file, doc, at, &p, out);
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => place_err(out, who(kind), "items", line, "items must be a list".into()),
        }
        return;
    }

    let Some(&(_, versions, kind_name, namespaced)) = KINDS.iter().find(|(g, _, k, _)| *g == group && *k == kind)
    else {
        out.skipped.push(SkippedObject {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace,
            name,
            file: file.name.clone(),
            line: node.line,
        });
        return;
    };
    if !versions.contains(&version) {
        let served: Vec<String> =
            versions.iter().map(|v| if group.is_empty() { (*v).to_string() } else { format!("{group}/{v}") }).collect();
        let line = node.get("apiVersion").map_or(node.line, |n| n.line);
        place_err(
            out,
            who(kind),
            "apiVersion",
            line,
            format!("\"{api_version}\" is not served for {kind} (use {})", served.join(" or ")),
        );
        return;
    }

    let problems = Problems::default();
    let node_line = node.line;
    let raw = match kind_name {
        "IPAddressPool" => from_node(node, "", &problems).map(RawObject::IpAddressPool),
        "AddressPool" => from_node(node, "", &problems).map(RawObject::AddressPool),
        "BGPAdvertisement" => from_node(node, "", &problems).map(RawObject::BgpAdvertisement),
        "L2Advertisement" => from_node(node, "", &problems).map(RawObject::L2Advertisement),
        "Community" => from_node(node, "", &problems).map(RawObject::Community),
        "BFDProfile" => from_node(node, "", &problems).map(RawObject::BfdProfile),
        "BGPPeer" if version == "v1beta1" => from_node(node, "", &problems).map(RawObject::BgpPeerV1beta1),
        "BGPPeer" => from_node(node, "", &problems).map(RawObject::BgpPeer),
        "MetalLB" => from_node(node, "", &problems).map(RawObject::MetalLb),
        "FRRConfiguration" => from_node(node, "", &problems).map(RawObject::FrrConfiguration),
        "EgressService" => from_node(node, "", &problems).map(RawObject::EgressService),
        "NodeNetworkConfigurationPolicy" => from_node(node, "", &problems).map(RawObject::Nncp),
        "Service" => from_node(node, "", &problems).map(RawObject::Service),
        "Node" => from_node(node, "", &problems).map(RawObject::Node),
        "Namespace" => from_node(node, "", &problems).map(RawObject::Namespace),
        "EndpointSlice" => from_node(node, "", &problems).map(RawObject::EndpointSlice),
        _ => None::<RawObject>,
    };
    let mut problems = problems.into_vec();
    if kind_name == "NodeNetworkConfigurationPolicy" {
        for p in &mut problems {
            if !p.is_error && p.path.starts_with("spec.desiredState") {
                p.message = "not interpreted by ferrolb (NMState applies it as written)".into();
            }
        }
    }
    let Some(raw) = raw else {
        // Only a custom visitor can fail; its error is among the problems.
        out.pending.extend(problems.into_iter().map(|p| Pending {
            severity: Severity::Error,
            subject: Subject::Place { file: doc.file, who: who(kind) },
            field: p.path,
            line: Some(p.line),
            message: p.message,
        }));
        return;
    };
    let namespace = if namespaced {
        let ns = raw.metadata().namespace.clone().unwrap_or_default();
        if ns.is_empty() { "default".to_string() } else { ns }
    } else {
        String::new()
    };
    let name = raw.metadata().name.clone().unwrap_or_default();
    let info = ObjInfo {
        kind: kind_name,
        id: ObjectRef { namespace, name },
        doc: at.0,
        root: at.1,
        prefix: prefix.to_string(),
        origin: Origin { file: file.name.clone(), line: node_line },
    };
    out.objects.push((info, raw, problems));
}

/// Turn pending diagnostics into diagnostics: find the missing lines (parsing each concerned
/// document once more) and sort by file and line.
pub(crate) fn finish(input: &Input, pending: Vec<Pending>) -> Vec<Diagnostic> {
    let mut trees: HashMap<usize, Option<Vec<Node>>> = HashMap::new();
    let mut out: Vec<(usize, Diagnostic)> = Vec::with_capacity(pending.len());
    for p in pending {
        let (file_index, kind, namespace, name, line) = match &p.subject {
            Subject::Place { file, who } => {
                let (k, ns, n) = who.clone().unwrap_or_default();
                (*file, k, ns, n, p.line.unwrap_or(0))
            }
            Subject::Object(i) => {
                let Some(o) = input.objects.get(*i) else { continue };
                let info = &o.info;
                let file = input.docs.get(info.doc).map_or(0, |d| d.file);
                let line = match p.line {
                    Some(l) => l,
                    None => {
                        let tree = trees.entry(info.doc).or_insert_with(|| reparse(input, info.doc));
                        lookup(tree.as_deref(), info.root, &info.prefix, &p.field).unwrap_or(info.origin.line)
                    }
                };
                (file, info.kind.to_string(), info.id.namespace.clone(), info.id.name.clone(), line)
            }
        };
        let file = input.files.get(file_index).map(|f| f.name.clone()).unwrap_or_default();
        out.push((
            file_index,
            Diagnostic { severity: p.severity, kind, namespace, name, field: p.field, file, line, message: p.message },
        ));
    }
    out.sort_by(|(fa, a), (fb, b)| fa.cmp(fb).then(a.line.cmp(&b.line)));
    out.into_iter().map(|(_, d)| d).collect()
}

fn reparse(input: &Input, doc: usize) -> Option<Vec<Node<'_>>> {
    let d = input.docs.get(doc)?;
    let text = input.files.get(d.file)?.text.get(d.chunk.start..d.chunk.end)?;
    yaml::parse_documents(text, d.chunk.first_line).ok()
}

fn lookup(tree: Option<&[Node]>, root: usize, prefix: &str, field: &str) -> Option<u32> {
    let root = tree?.get(root)?;
    let full = match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if field.starts_with('[') => format!("{prefix}{field}"),
        (false, false) => format!("{prefix}.{field}"),
    };
    Some(yaml::line_of_path(root, &yaml::parse_path(&full)))
}

/// Object counts per kind, for the report.
pub(crate) fn count_kinds(objects: &[Loaded]) -> std::collections::BTreeMap<String, usize> {
    let mut m: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for o in objects {
        *m.entry(o.info.kind).or_insert(0) += 1;
    }
    m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
