//! `docs/configuration.md` cannot drift from the registry: every component has its section under
//! the right heading, says how far it is implemented, and names every option of its config
//! struct; and the page has no section for a component the registry lacks.

use std::collections::BTreeMap;

use crate::registry::{Kind, REGISTRY, Status};

fn heading(kind: Kind) -> &'static str {
    match kind {
        Kind::Receiver => "Receivers",
        Kind::Processor => "Processors",
        Kind::Exporter => "Exporters",
        Kind::Connector => "Connectors",
        Kind::Extension => "Extensions",
    }
}

/// (section, component) → its text.
fn sections(doc: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut section = String::new();
    let mut current: Option<(String, String)> = None;
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = h.trim().to_string();
            current = None;
        } else if let Some(h) = line.strip_prefix("### ") {
            let key = (section.clone(), h.trim().to_string());
            out.insert(key.clone(), String::new());
            current = Some(key);
        } else if let Some(key) = &current
            && let Some(text) = out.get_mut(key)
        {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&p, v, out);
            }
        }
        _ if !prefix.is_empty() => out.push(prefix.to_string()),
        _ => {}
    }
}

#[test]
fn configuration_page_matches_the_registry() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let secs = sections(&doc);
    let mut problems = Vec::new();
    for e in REGISTRY {
        let key = (heading(e.kind).to_string(), e.ty.to_string());
        let Some(text) = secs.get(&key) else {
            problems.push(format!("no `### {}` under `## {}`", e.ty, heading(e.kind)));
            continue;
        };
        let wanted = match e.status {
            Status::Functional => None,
            Status::Accepted(_) => Some("does nothing yet"),
            Status::NotInBuild => Some("Not available in this build"),
            Status::Refused(_) => Some("Refused"),
        };
        if let Some(w) = wanted
            && !text.contains(w)
        {
            problems.push(format!("{}: the section must say {w:?}", e.ty));
        }
        if e.status == Status::Functional
            && (text.contains("Not available in this build") || text.contains("does nothing yet"))
        {
            problems.push(format!("{}: works now; the section says it does not", e.ty));
        }
        // Options may be documented by reference: "options as `otlp`".
        let referenced: Vec<&String> = secs
            .iter()
            .filter(|((s, ty), _)| *s == key.0 && text.contains(&format!("as `{ty}`")))
            .map(|(_, t)| t)
            .collect();
        let mut options = Vec::new();
        leaves("", &(e.defaults)(), &mut options);
        for o in options {
            let quoted = format!("`{o}`");
            if !text.contains(&quoted) && !referenced.iter().any(|t| t.contains(&quoted)) {
                problems.push(format!("{}: option {quoted} is not documented", e.ty));
            }
        }
    }
    for (section, ty) in secs.keys() {
        let known = REGISTRY
            .iter()
            .any(|e| heading(e.kind) == section && e.ty == ty);
        let component_section = Kind::ALL.iter().any(|k| heading(*k) == section);
        if component_section && !known {
            problems.push(format!(
                "`### {ty}` under `## {section}` is not in the registry"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md drifted from the registry:\n{}",
        problems.join("\n")
    );
}
