//! `include` / `exclude` span matching shared by the `attributes` and `span` processors, with
//! the Collector's `MatchProperties` options. In metrics pipelines a block matches data points
//! (`metric_names`, the point's `attributes`, `resources`, `libraries`); in logs pipelines, log
//! records (`log_bodies`, `log_severity_texts`, the record's `attributes`, `resources`,
//! `libraries`).
//!
//! A span is processed when it matches `include` (or there is none) and does not match
//! `exclude`. Within one block every property given must match (services, span_names,
//! attributes, resources, libraries, span_kinds); within a list any entry may match, except
//! `attributes` and `resources`, where all entries must match. `regexp` patterns are unanchored,
//! as Go's `regexp.MatchString` is.

use regex::Regex;
use serde::{Deserialize, Serialize};
use spoor_model::Span;
use spoor_model::otlp_common::{InstrumentationScope, KeyValue};
use spoor_model::otlp_resource::Resource;

use opentelemetry_proto::tonic::logs::v1::LogRecord;

use super::common::{self, ConfigValue};
use crate::ConfigError;
use crate::config::Signal;

/// `match_type`: how strings in a match block are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    Strict,
    Regexp,
}

/// The Collector's regexp cache options; accepted for compatibility (compiled regexes need no cache).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegexpOptions {
    #[serde(default)]
    pub cacheenabled: bool,
    #[serde(default)]
    pub cachemaxnumentries: usize,
}

/// One `attributes` / `resources` entry: the key must exist and, if `value` is set, match it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMatch {
    pub key: String,
    #[serde(default)]
    pub value: Option<ConfigValue>,
}

/// One `libraries` entry: the instrumentation scope name and optionally its version.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryMatch {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// An `include` or `exclude` block.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    pub match_type: Option<MatchType>,
    #[serde(default)]
    pub regexp: Option<RegexpOptions>,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub span_names: Vec<String>,
    #[serde(default)]
    pub attributes: Vec<AttributeMatch>,
    #[serde(default)]
    pub resources: Vec<AttributeMatch>,
    #[serde(default)]
    pub libraries: Vec<LibraryMatch>,
    #[serde(default)]
    pub span_kinds: Vec<String>,
    /// Metrics pipelines: the metric's name.
    #[serde(default)]
    pub metric_names: Vec<String>,
    /// Logs pipelines: the log record's body in its string form.
    #[serde(default)]
    pub log_bodies: Vec<String>,
    /// Logs pipelines: the log record's severity text.
    #[serde(default)]
    pub log_severity_texts: Vec<String>,
}

enum StringSet {
    Strict(Vec<String>),
    Regexp(Vec<Regex>),
}

impl StringSet {
    fn new(match_type: MatchType, path: &str, items: &[String]) -> Result<Self, ConfigError> {
        Ok(match match_type {
            MatchType::Strict => StringSet::Strict(items.to_vec()),
            MatchType::Regexp => StringSet::Regexp(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, p)| common::compile(&format!("{path}[{i}]"), p))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            StringSet::Strict(items) => items.iter().any(|i| i == s),
            StringSet::Regexp(res) => res.iter().any(|r| r.is_match(s)),
        }
    }
}

enum ValueMatch {
    Exists,
    Equal(spoor_model::otlp_common::AnyValue),
    Regexp(Regex),
}

struct AttrMatcher {
    key: String,
    value: ValueMatch,
}

impl AttrMatcher {
    fn matches(&self, attrs: &[KeyValue]) -> bool {
        let Some(kv) = attrs.iter().find(|kv| kv.key == self.key) else {
            return false;
        };
        match &self.value {
            ValueMatch::Exists => true,
            ValueMatch::Equal(want) => kv.value.as_ref() == Some(want),
            ValueMatch::Regexp(re) => {
                use spoor_model::otlp_common::any_value::Value;
                // Only scalar values are compared, in their string form.
                match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(
                        Value::StringValue(_)
                        | Value::IntValue(_)
                        | Value::DoubleValue(_)
                        | Value::BoolValue(_),
                    ) => kv
                        .value
                        .as_ref()
                        .is_some_and(|v| re.is_match(&common::as_string(v))),
                    _ => false,
                }
            }
        }
    }
}

struct LibraryMatcher {
    name: StringSet,
    version: Option<StringSet>,
}

/// A compiled `include` / `exclude` block.
pub struct Matcher {
    services: Option<StringSet>,
    span_names: Option<StringSet>,
    attributes: Vec<AttrMatcher>,
    resources: Vec<AttrMatcher>,
    libraries: Vec<LibraryMatcher>,
    span_kinds: Option<StringSet>,
    metric_names: Option<StringSet>,
    log_bodies: Option<StringSet>,
    log_severity_texts: Option<StringSet>,
}

const SPAN_KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

impl MatchConfig {
    /// Validates and compiles the block; `path` is its option path (`include`).
    pub fn build(&self, path: &str) -> Result<Matcher, ConfigError> {
        let Some(mt) = self.match_type else {
            return Err(ConfigError::new(
                format!("{path}.match_type"),
                "missing: expected strict or regexp",
            ));
        };
        if self.services.is_empty()
            && self.span_names.is_empty()
            && self.attributes.is_empty()
            && self.resources.is_empty()
            && self.libraries.is_empty()
            && self.span_kinds.is_empty()
            && self.metric_names.is_empty()
            && self.log_bodies.is_empty()
            && self.log_severity_texts.is_empty()
        {
            return Err(ConfigError::new(
                path,
                "at least one of services, span_names, span_kinds, metric_names, log_bodies, log_severity_texts, attributes, resources or libraries must be specified",
            ));
        }
        self.signal(path)?;
        let set = |name: &str, items: &[String]| -> Result<Option<StringSet>, ConfigError> {
            if items.is_empty() {
                Ok(None)
            } else {
                StringSet::new(mt, &format!("{path}.{name}"), items).map(Some)
            }
        };
        if mt == MatchType::Strict {
            for (i, k) in self.span_kinds.iter().enumerate() {
                if !SPAN_KINDS.contains(&k.as_str()) {
                    return Err(ConfigError::new(
                        format!("{path}.span_kinds[{i}]"),
                        format!(
                            "unknown span kind {k:?}: expected one of {}",
                            SPAN_KINDS.join(", ")
                        ),
                    ));
                }
            }
        }
        let attrs =
            |name: &str, items: &[AttributeMatch]| -> Result<Vec<AttrMatcher>, ConfigError> {
                items
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        let p = format!("{path}.{name}[{i}]");
                        if a.key.is_empty() {
                            return Err(ConfigError::new(format!("{p}.key"), "must not be empty"));
                        }
                        let value = match (&a.value, mt) {
                            (None, _) => ValueMatch::Exists,
                            (Some(v), MatchType::Strict) => ValueMatch::Equal(v.to_any()),
                            (Some(ConfigValue::String(s)), MatchType::Regexp) => {
                                ValueMatch::Regexp(common::compile(&format!("{p}.value"), s)?)
                            }
                            (Some(_), MatchType::Regexp) => {
                                return Err(ConfigError::new(
                                    format!("{p}.value"),
                                    "with match_type regexp the value must be a string",
                                ));
                            }
                        };
                        Ok(AttrMatcher {
                            key: a.key.clone(),
                            value,
                        })
                    })
                    .collect()
            };
        let libraries = self
            .libraries
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let p = format!("{path}.libraries[{i}]");
                Ok(LibraryMatcher {
                    name: StringSet::new(mt, &format!("{p}.name"), std::slice::from_ref(&l.name))?,
                    version: match &l.version {
                        Some(v) => Some(StringSet::new(
                            mt,
                            &format!("{p}.version"),
                            std::slice::from_ref(v),
                        )?),
                        None => None,
                    },
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Matcher {
            services: set("services", &self.services)?,
            span_names: set("span_names", &self.span_names)?,
            attributes: attrs("attributes", &self.attributes)?,
            resources: attrs("resources", &self.resources)?,
            libraries,
            span_kinds: set("span_kinds", &self.span_kinds)?,
            metric_names: set("metric_names", &self.metric_names)?,
            log_bodies: set("log_bodies", &self.log_bodies)?,
            log_severity_texts: set("log_severity_texts", &self.log_severity_texts)?,
        })
    }

    /// The one signal this block's properties belong to (`span_names` → traces, `metric_names`
    /// → metrics, `log_bodies` → logs), or none when it only matches resources, libraries and
    /// attributes, which every signal has. Properties of two signals are an error.
    pub fn signal(&self, path: &str) -> Result<Option<Signal>, ConfigError> {
        let spans =
            !(self.services.is_empty() && self.span_names.is_empty() && self.span_kinds.is_empty());
        let metrics = !self.metric_names.is_empty();
        let logs = !(self.log_bodies.is_empty() && self.log_severity_texts.is_empty());
        match (spans, metrics, logs) {
            (false, false, false) => Ok(None),
            (true, false, false) => Ok(Some(Signal::Traces)),
            (false, true, false) => Ok(Some(Signal::Metrics)),
            (false, false, true) => Ok(Some(Signal::Logs)),
            _ => Err(ConfigError::new(
                path,
                "span properties (services, span_names, span_kinds), metric_names and log properties (log_bodies, log_severity_texts) cannot be mixed",
            )),
        }
    }
}

impl Matcher {
    /// Whether the span, with its resource and scope, matches every property of the block.
    pub fn matches(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        let res_attrs: &[KeyValue] = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        if let Some(services) = &self.services {
            // The Collector's stand-in for a resource without service.name.
            let name = common::get(res_attrs, "service.name")
                .map(common::as_string)
                .unwrap_or_else(|| "<nil-service-name>".to_string());
            if !services.matches(&name) {
                return false;
            }
        }
        if let Some(names) = &self.span_names
            && !names.matches(&span.name)
        {
            return false;
        }
        if let Some(kinds) = &self.span_kinds
            && !kinds.matches(span_kind_enum_name(span.kind))
        {
            return false;
        }
        if !self.attributes.iter().all(|m| m.matches(&span.attributes)) {
            return false;
        }
        if !self.resources.iter().all(|m| m.matches(res_attrs)) {
            return false;
        }
        if !self.libraries.is_empty() {
            let (name, version) = scope
                .map(|s| (s.name.as_str(), s.version.as_str()))
                .unwrap_or(("", ""));
            let any = self.libraries.iter().any(|l| {
                l.name.matches(name) && l.version.as_ref().is_none_or(|v| v.matches(version))
            });
            if !any {
                return false;
            }
        }
        // Metric or log properties never match a span (validation keeps them out of traces).
        self.metric_names.is_none()
            && self.log_bodies.is_none()
            && self.log_severity_texts.is_none()
    }

    /// Resources and libraries, common to every signal.
    fn matches_context(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
    ) -> bool {
        let res_attrs: &[KeyValue] = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        if self.services.is_some() || self.span_names.is_some() || self.span_kinds.is_some() {
            return false;
        }
        if !self.resources.iter().all(|m| m.matches(res_attrs)) {
            return false;
        }
        if !self.libraries.is_empty() {
            let (name, version) = scope
                .map(|s| (s.name.as_str(), s.version.as_str()))
                .unwrap_or(("", ""));
            return self.libraries.iter().any(|l| {
                l.name.matches(name) && l.version.as_ref().is_none_or(|v| v.matches(version))
            });
        }
        true
    }

    /// Whether a metric data point matches: its metric's name, its attributes, the resource
    /// and the scope.
    pub fn matches_point(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        metric_name: &str,
        attributes: &[KeyValue],
    ) -> bool {
        self.matches_context(resource, scope)
            && self.log_bodies.is_none()
            && self.log_severity_texts.is_none()
            && self
                .metric_names
                .as_ref()
                .is_none_or(|n| n.matches(metric_name))
            && self.attributes.iter().all(|m| m.matches(attributes))
    }

    /// Whether a log record matches: its body, severity text, attributes, resource and scope.
    pub fn matches_log(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        record: &LogRecord,
    ) -> bool {
        self.matches_context(resource, scope)
            && self.metric_names.is_none()
            && self.log_bodies.as_ref().is_none_or(|b| {
                b.matches(
                    &record
                        .body
                        .as_ref()
                        .map(common::as_string)
                        .unwrap_or_default(),
                )
            })
            && self
                .log_severity_texts
                .as_ref()
                .is_none_or(|t| t.matches(&record.severity_text))
            && self
                .attributes
                .iter()
                .all(|m| m.matches(&record.attributes))
    }
}

/// The proto enum name of a span kind (`SPAN_KIND_SERVER`).
pub fn span_kind_enum_name(kind: i32) -> &'static str {
    usize::try_from(kind)
        .ok()
        .and_then(|k| SPAN_KINDS.get(k))
        .copied()
        .unwrap_or("SPAN_KIND_UNSPECIFIED")
}

/// Compiled `include` and `exclude`.
#[derive(Default)]
pub struct IncludeExclude {
    include: Option<Matcher>,
    exclude: Option<Matcher>,
}

impl IncludeExclude {
    pub fn build(
        include: Option<&MatchConfig>,
        exclude: Option<&MatchConfig>,
    ) -> Result<Self, ConfigError> {
        Self::build_at("", include, exclude)
    }

    /// As [`build`](Self::build), with the blocks under `prefix` (`spans.`). For span
    /// processors: metric and log properties are refused.
    pub fn build_at(
        prefix: &str,
        include: Option<&MatchConfig>,
        exclude: Option<&MatchConfig>,
    ) -> Result<Self, ConfigError> {
        for (name, block) in [("include", include), ("exclude", exclude)] {
            let path = format!("{prefix}{name}");
            if let Some(b) = block
                && let Some(signal @ (Signal::Metrics | Signal::Logs)) = b.signal(&path)?
            {
                return Err(ConfigError::new(
                    path,
                    format!(
                        "matches {}, but this processor takes spans only",
                        signal.as_str()
                    ),
                ));
            }
        }
        Self::compile(prefix, include, exclude)
    }

    /// For processors of every signal (`attributes`): the compiled blocks and the signals
    /// they allow (those of their properties; all when they only match resources, libraries
    /// and attributes).
    pub fn build_for_signals(
        include: Option<&MatchConfig>,
        exclude: Option<&MatchConfig>,
    ) -> Result<(Self, &'static [Signal]), ConfigError> {
        let mut tied = None;
        for (path, block) in [("include", include), ("exclude", exclude)] {
            let Some(signal) = block.map(|b| b.signal(path)).transpose()?.flatten() else {
                continue;
            };
            if tied.is_some_and(|t| t != signal) {
                return Err(ConfigError::new(
                    path,
                    "include and exclude match properties of different signals",
                ));
            }
            tied = Some(signal);
        }
        let signals: &'static [Signal] = match tied {
            None => &Signal::ALL,
            Some(Signal::Traces) => &[Signal::Traces],
            Some(Signal::Metrics) => &[Signal::Metrics],
            Some(Signal::Logs) => &[Signal::Logs],
        };
        Ok((Self::compile("", include, exclude)?, signals))
    }

    fn compile(
        prefix: &str,
        include: Option<&MatchConfig>,
        exclude: Option<&MatchConfig>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            include: include
                .map(|m| m.build(&format!("{prefix}include")))
                .transpose()?,
            exclude: exclude
                .map(|m| m.build(&format!("{prefix}exclude")))
                .transpose()?,
        })
    }

    /// Whether the processor applies to this span.
    pub fn applies(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        self.applies_with(|m| m.matches(resource, scope, span))
    }

    /// Whether the processor applies to the item `matches` tests a block against.
    pub fn applies_with(&self, matches: impl Fn(&Matcher) -> bool) -> bool {
        self.include.as_ref().is_none_or(&matches) && !self.exclude.as_ref().is_some_and(&matches)
    }
}
