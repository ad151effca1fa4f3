//! The service/operation catalog, kept up to date at ingest and persisted in the manifest.

use std::collections::{BTreeSet, HashMap};

use spoor_model::span_kind_name;
use spoor_storage::Operation;

use crate::manifest::{CatalogEntry, CatalogOp};

/// service → operation name → span kind → newest span start seen.
#[derive(Default)]
pub(crate) struct Catalog {
    services: HashMap<String, HashMap<String, HashMap<i32, u64>>>,
}

impl Catalog {
    pub(crate) fn from_entries(entries: &[CatalogEntry]) -> Self {
        let mut c = Catalog::default();
        for e in entries {
            let kind = spoor_model::span_kind_from_name(&e.op.kind);
            c.see(&e.op.service, &e.op.name, kind, e.last_seen);
        }
        c
    }

    pub(crate) fn see(&mut self, service: &str, name: &str, kind: i32, at: u64) {
        let ops = match self.services.get_mut(service) {
            Some(ops) => ops,
            None => self.services.entry(service.to_string()).or_default(),
        };
        let kinds = match ops.get_mut(name) {
            Some(k) => k,
            None => ops.entry(name.to_string()).or_default(),
        };
        let e = kinds.entry(kind).or_insert(at);
        *e = (*e).max(at);
    }

    pub(crate) fn services(&self) -> Vec<String> {
        let mut out: Vec<String> = self.services.keys().cloned().collect();
        out.sort();
        out
    }

    pub(crate) fn operations(&self, service: &str, kind: Option<&str>) -> Vec<Operation> {
        let kind = kind.unwrap_or("");
        let mut out = BTreeSet::new();
        if let Some(ops) = self.services.get(service) {
            for (name, kinds) in ops {
                for k in kinds.keys() {
                    let k = span_kind_name(*k);
                    if kind.is_empty() || k == kind {
                        out.insert(Operation {
                            name: name.clone(),
                            span_kind: k.to_string(),
                        });
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    /// Drops entries not seen since `cutoff`.
    pub(crate) fn expire(&mut self, cutoff: u64) {
        for ops in self.services.values_mut() {
            for kinds in ops.values_mut() {
                kinds.retain(|_, seen| *seen >= cutoff);
            }
            ops.retain(|_, kinds| !kinds.is_empty());
        }
        self.services.retain(|_, ops| !ops.is_empty());
    }

    /// Drops what a delete removed: entries of `service` (every service when `None`) not seen
    /// since `before` (all of them when `None`).
    pub(crate) fn forget(&mut self, service: Option<&str>, before: Option<u64>) {
        let cutoff = before.unwrap_or(u64::MAX);
        for (name, ops) in self.services.iter_mut() {
            if service.is_some_and(|s| s != name) {
                continue;
            }
            for kinds in ops.values_mut() {
                kinds.retain(|_, seen| *seen >= cutoff);
            }
            ops.retain(|_, kinds| !kinds.is_empty());
        }
        self.services.retain(|_, ops| !ops.is_empty());
    }

    pub(crate) fn entries(&self) -> Vec<CatalogEntry> {
        let mut out = Vec::new();
        for (service, ops) in &self.services {
            for (name, kinds) in ops {
                for (kind, seen) in kinds {
                    out.push(CatalogEntry {
                        op: CatalogOp {
                            service: service.clone(),
                            name: name.clone(),
                            kind: span_kind_name(*kind).to_string(),
                        },
                        last_seen: *seen,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.op.cmp(&b.op));
        out
    }
}
