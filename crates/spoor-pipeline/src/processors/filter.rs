//! The `filter` processor: drops spans and span events for which any OTTL condition holds
//! (`traces.span`, `traces.spanevent`). Scopes and resources left without spans are dropped.
//!
//! ```yaml
//! processors:
//!   filter/health:
//!     error_mode: ignore
//!     traces:
//!       span:
//!         - attributes["http.route"] == "/health"
//!         - IsMatch(name, "^GET /ready")
//!       spanevent:
//!         - name == "debug"
//! ```
//!
//! Conditions use the OTTL subset of [`ottl`](super::ottl). The legacy form
//! `spans: {include: {...}, exclude: {...}}` (the `attributes` processor's match blocks) keeps
//! only spans that match `include` and do not match `exclude`; it cannot be combined with
//! `traces`.

use serde::{Deserialize, Serialize};
use spoor_model::ResourceSpans;

use super::error_mode::ErrorMode;
use super::matching::{IncludeExclude, MatchConfig};
use super::ottl::{Condition, Context, EvalCtx};
use crate::{ConfigError, ProcessError, SpanProcessor};

/// Options of the `filter` processor.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    #[serde(default)]
    pub error_mode: ErrorMode,
    #[serde(default)]
    pub traces: TracesFilterConfig,
    /// The legacy match form.
    #[serde(default)]
    pub spans: Option<LegacySpansConfig>,
}

/// `spans`: the legacy include/exclude form.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LegacySpansConfig {
    #[serde(default)]
    pub include: Option<MatchConfig>,
    #[serde(default)]
    pub exclude: Option<MatchConfig>,
}

/// `traces`: conditions on spans and on span events.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TracesFilterConfig {
    #[serde(default)]
    pub span: Vec<String>,
    #[serde(default)]
    pub spanevent: Vec<String>,
}

fn parse_all(path: &str, srcs: &[String], ctx: Context) -> Result<Vec<Condition>, ConfigError> {
    srcs.iter()
        .enumerate()
        .map(|(i, s)| {
            Condition::parse(s, ctx)
                .map_err(|e| ConfigError::new(format!("{path}[{i}]"), format!("{e} in {s:?}")))
        })
        .collect()
}

impl FilterConfig {
    pub fn build(&self) -> Result<Box<dyn SpanProcessor>, ConfigError> {
        let legacy = match &self.spans {
            None => None,
            Some(_) if !self.traces.span.is_empty() || !self.traces.spanevent.is_empty() => {
                return Err(ConfigError::new(
                    "spans",
                    "cannot be used together with traces conditions",
                ));
            }
            Some(l) if l.include.is_none() && l.exclude.is_none() => None,
            Some(l) => Some(IncludeExclude::build_at(
                "spans.",
                l.include.as_ref(),
                l.exclude.as_ref(),
            )?),
        };
        Ok(Box::new(FilterProcessor {
            legacy,
            error_mode: self.error_mode,
            span: parse_all("traces.span", &self.traces.span, Context::Span)?,
            spanevent: parse_all(
                "traces.spanevent",
                &self.traces.spanevent,
                Context::SpanEvent,
            )?,
        }))
    }
}

struct FilterProcessor {
    legacy: Option<IncludeExclude>,
    error_mode: ErrorMode,
    span: Vec<Condition>,
    spanevent: Vec<Condition>,
}

impl FilterProcessor {
    fn any(&self, conds: &[Condition], ctx: &EvalCtx<'_>) -> Result<bool, ProcessError> {
        for c in conds {
            match c.eval(ctx) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(e) if self.error_mode == ErrorMode::Propagate => {
                    return Err(ProcessError(format!("filter: {e}")));
                }
                Err(_) => {}
            }
        }
        Ok(false)
    }
}

impl SpanProcessor for FilterProcessor {
    fn process(&self, mut batch: Vec<ResourceSpans>) -> Result<Vec<ResourceSpans>, ProcessError> {
        if let Some(legacy) = &self.legacy {
            for rs in &mut batch {
                let resource = rs.resource.as_ref();
                for ss in &mut rs.scope_spans {
                    let scope = ss.scope.as_ref();
                    ss.spans.retain(|s| legacy.applies(resource, scope, s));
                }
                rs.scope_spans.retain(|ss| !ss.spans.is_empty());
            }
            batch.retain(|rs| !rs.scope_spans.is_empty());
            return Ok(batch);
        }
        if self.span.is_empty() && self.spanevent.is_empty() {
            return Ok(batch);
        }
        let mut failure = None;
        for rs in &mut batch {
            let resource = &mut rs.resource;
            for ss in &mut rs.scope_spans {
                let scope = ss.scope.as_ref();
                ss.spans.retain_mut(|span| {
                    if failure.is_some() {
                        return true;
                    }
                    if !self.span.is_empty() {
                        let ctx = EvalCtx {
                            resource: resource.as_mut(),
                            scope,
                            span: Some(&mut *span),
                            event: None,
                        };
                        match self.any(&self.span, &ctx) {
                            Ok(true) => return false,
                            Ok(false) => {}
                            Err(e) => {
                                failure = Some(e);
                                return true;
                            }
                        }
                    }
                    if !self.spanevent.is_empty() {
                        let mut events = std::mem::take(&mut span.events);
                        events.retain_mut(|event| {
                            if failure.is_some() {
                                return true;
                            }
                            let ctx = EvalCtx {
                                resource: resource.as_mut(),
                                scope,
                                span: Some(&mut *span),
                                event: Some(event),
                            };
                            match self.any(&self.spanevent, &ctx) {
                                Ok(drop) => !drop,
                                Err(e) => {
                                    failure = Some(e);
                                    true
                                }
                            }
                        });
                        span.events = events;
                    }
                    true
                });
            }
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        }
        if let Some(e) = failure {
            return Err(e);
        }
        batch.retain(|rs| !rs.scope_spans.is_empty());
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::common::test_support::{batch, span, spans, yaml};
    use spoor_model::attr;
    use spoor_model::otlp_trace::span::Event;

    fn build(cfg: &str) -> Box<dyn SpanProcessor> {
        yaml::<FilterConfig>(cfg)
            .expect("yaml")
            .build()
            .expect("build")
    }

    #[test]
    fn drops_matching_spans_and_empty_containers() {
        let p = build(
            "traces:\n  span:\n    - attributes[\"http.route\"] == \"/health\"\n    - IsMatch(name, \"^GET /ready\")\n",
        );
        let mut input = batch(
            "svc",
            vec![
                span("a", vec![attr::string("http.route", "/health")]),
                span("GET /ready", vec![]),
                span("keep", vec![attr::string("http.route", "/api")]),
            ],
        );
        input.extend(batch(
            "other",
            vec![span("x", vec![attr::string("http.route", "/health")])],
        ));
        let out = p.process(input).expect("process");
        assert_eq!(out.len(), 1, "the resource left empty is dropped");
        let names: Vec<&str> = spans(&out).iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["keep"]);
        let all = p
            .process(batch("svc", vec![span("GET /ready", vec![])]))
            .expect("process");
        assert!(all.is_empty());
    }

    #[test]
    fn drops_span_events() {
        let p = build("traces:\n  spanevent: ['name == \"debug\" and span.name == \"a\"']\n");
        let mut s = span("a", vec![]);
        for n in ["debug", "exception"] {
            s.events.push(Event {
                name: n.into(),
                ..Default::default()
            });
        }
        let out = p.process(batch("svc", vec![s])).expect("process");
        let events: Vec<&str> = spans(&out)[0]
            .events
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(events, vec!["exception"]);
    }

    #[test]
    fn error_mode_decides_on_failing_conditions() {
        let cond = "traces:\n  span: ['attributes[\"n\"] + 1 > 2', 'name == \"b\"']\n";
        let input = || {
            batch(
                "svc",
                vec![
                    span("a", vec![attr::string("n", "x")]),
                    span("b", vec![attr::int("n", 1)]),
                ],
            )
        };
        let err = build(cond)
            .process(input())
            .expect_err("propagate is the default");
        assert!(err.0.contains("arithmetic"), "{err}");
        for mode in ["ignore", "silent"] {
            let out = build(&format!("error_mode: {mode}\n{cond}"))
                .process(input())
                .expect("process");
            let names: Vec<&str> = spans(&out).iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, vec!["a"], "{mode}");
        }
    }

    #[test]
    fn legacy_include_exclude_form() {
        let p = build(
            "spans:\n  include: {match_type: regexp, span_names: ['^api']}\n  exclude: {match_type: strict, attributes: [{key: http.route, value: /api/health}]}\n",
        );
        let out = p
            .process(batch(
                "svc",
                vec![
                    span("api call", vec![]),
                    span(
                        "api health",
                        vec![attr::string("http.route", "/api/health")],
                    ),
                    span("db", vec![]),
                ],
            ))
            .expect("process");
        let names: Vec<&str> = spans(&out).iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["api call"]);
    }

    #[test]
    fn config_errors() {
        let err = |s: &str| {
            yaml::<FilterConfig>(s)
                .expect("yaml")
                .build()
                .err()
                .expect("error")
        };
        assert_eq!(
            err("spans: {include: {match_type: strict}}\n").path,
            "spans.include"
        );
        assert_eq!(
            err(
                "spans: {exclude: {match_type: strict, services: [a]}}\ntraces: {span: ['true']}\n"
            )
            .path,
            "spans"
        );
        assert!(yaml::<FilterConfig>("spans: {includes: {}}\n").is_err());
        assert!(yaml::<FilterConfig>("error_mode: loud\n").is_err());
        assert!(yaml::<FilterConfig>("traces: {metric: []}\n").is_err());
        let e = yaml::<FilterConfig>("traces:\n  span: ['name == \"a\"', 'nme == \"a\"']\n")
            .expect("yaml")
            .build()
            .err()
            .expect("error");
        assert_eq!(e.path, "traces.span[1]");
        assert!(e.message.starts_with("column 1: unknown path"), "{e}");
        let e = yaml::<FilterConfig>("traces:\n  spanevent: ['IsMatch(name, \"(\")']\n")
            .expect("yaml")
            .build()
            .err()
            .expect("error");
        assert_eq!(e.path, "traces.spanevent[0]");
        assert!(e.message.starts_with("column 15: invalid regex"), "{e}");
    }
}
