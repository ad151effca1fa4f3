//! The `transform` processor: runs OTTL editor statements on resources, spans or span events.
//!
//! ```yaml
//! processors:
//!   transform:
//!     error_mode: ignore
//!     trace_statements:
//!       - context: resource
//!         statements:
//!           - set(attributes["team"], "web")
//!       - context: span
//!         conditions: ['kind == SPAN_KIND_SERVER']
//!         statements:
//!           - set(name, attributes["http.route"]) where attributes["http.route"] != nil
//!           - delete_key(attributes, "http.request.header.cookie")
//!       # the newer flat form: the context comes from the path prefixes
//!       - set(span.attributes["flat"], true)
//! ```
//!
//! Groups run in order; a group's statements run for every item of its context, in order, and
//! only where one of its `conditions` holds (when it has any). A group's own `error_mode`
//! overrides the processor's. The `scope` context is not supported.

use serde::{Deserialize, Serialize};
use spoor_model::ResourceSpans;

use super::error_mode::ErrorMode;
use super::ottl::{Condition, Context, EvalCtx, Statement, infer_context};
use crate::{ConfigError, ProcessError, SpanProcessor};

/// Options of the `transform` processor.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    #[serde(default)]
    pub error_mode: ErrorMode,
    #[serde(default)]
    pub trace_statements: Vec<StatementsEntry>,
}

/// One entry of `trace_statements`: a group with a context, or one flat statement.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StatementsEntry {
    Flat(String),
    Group(StatementGroup),
}

/// A group of statements sharing a context and conditions.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatementGroup {
    #[serde(default)]
    pub context: String,
    #[serde(default)]
    pub conditions: Vec<String>,
    pub statements: Vec<String>,
    #[serde(default)]
    pub error_mode: Option<ErrorMode>,
}

struct Group {
    context: Context,
    conditions: Vec<Condition>,
    statements: Vec<Statement>,
    error_mode: ErrorMode,
}

impl TransformConfig {
    pub fn build(&self) -> Result<Box<dyn SpanProcessor>, ConfigError> {
        let mut groups = Vec::with_capacity(self.trace_statements.len());
        for (i, entry) in self.trace_statements.iter().enumerate() {
            let path = format!("trace_statements[{i}]");
            let parse = |p: String, src: &str, ctx: Context| {
                Statement::parse(src, ctx)
                    .map_err(|e| ConfigError::new(p, format!("{e} in {src:?}")))
            };
            groups.push(match entry {
                StatementsEntry::Flat(src) => {
                    let ctx = infer_context(src);
                    Group {
                        context: ctx,
                        conditions: Vec::new(),
                        statements: vec![parse(path, src, ctx)?],
                        error_mode: self.error_mode,
                    }
                }
                StatementsEntry::Group(g) => {
                    let context = match g.context.as_str() {
                        "span" => Context::Span,
                        "spanevent" => Context::SpanEvent,
                        "resource" => Context::Resource,
                        other => {
                            return Err(ConfigError::new(
                                format!("{path}.context"),
                                format!("unsupported context {other:?}: expected span, spanevent or resource"),
                            ));
                        }
                    };
                    let conditions = g
                        .conditions
                        .iter()
                        .enumerate()
                        .map(|(j, c)| {
                            Condition::parse(c, context).map_err(|e| {
                                ConfigError::new(format!("{path}.conditions[{j}]"), format!("{e} in {c:?}"))
                            })
                        })
                        .collect::<Result<_, _>>()?;
                    let statements = g
                        .statements
                        .iter()
                        .enumerate()
                        .map(|(j, s)| parse(format!("{path}.statements[{j}]"), s, context))
                        .collect::<Result<_, _>>()?;
                    Group {
                        context,
                        conditions,
                        statements,
                        error_mode: g.error_mode.unwrap_or(self.error_mode),
                    }
                }
            });
        }
        Ok(Box::new(TransformProcessor { groups }))
    }
}

struct TransformProcessor {
    groups: Vec<Group>,
}

impl Group {
    fn run(&self, ctx: &mut EvalCtx<'_>) -> Result<(), ProcessError> {
        let fail = |e: String| -> Result<(), ProcessError> {
            match self.error_mode {
                ErrorMode::Propagate => Err(ProcessError(format!("transform: {e}"))),
                ErrorMode::Ignore | ErrorMode::Silent => Ok(()),
            }
        };
        if !self.conditions.is_empty() {
            let mut any = false;
            for c in &self.conditions {
                match c.eval(ctx) {
                    Ok(true) => {
                        any = true;
                        break;
                    }
                    Ok(false) => {}
                    Err(e) => fail(e)?,
                }
            }
            if !any {
                return Ok(());
            }
        }
        for s in &self.statements {
            if let Err(e) = s.execute(ctx) {
                fail(e)?;
            }
        }
        Ok(())
    }
}

impl SpanProcessor for TransformProcessor {
    fn process(&self, mut batch: Vec<ResourceSpans>) -> Result<Vec<ResourceSpans>, ProcessError> {
        for g in &self.groups {
            for rs in &mut batch {
                if g.context == Context::Resource {
                    let mut ctx = EvalCtx {
                        resource: rs.resource.as_mut(),
                        scope: None,
                        span: None,
                        event: None,
                    };
                    g.run(&mut ctx)?;
                    continue;
                }
                let resource = &mut rs.resource;
                for ss in &mut rs.scope_spans {
                    let scope = ss.scope.as_ref();
                    for span in &mut ss.spans {
                        if g.context == Context::Span {
                            let mut ctx = EvalCtx {
                                resource: resource.as_mut(),
                                scope,
                                span: Some(span),
                                event: None,
                            };
                            g.run(&mut ctx)?;
                            continue;
                        }
                        let mut events = std::mem::take(&mut span.events);
                        let mut result = Ok(());
                        for event in &mut events {
                            let mut ctx = EvalCtx {
                                resource: resource.as_mut(),
                                scope,
                                span: Some(&mut *span),
                                event: Some(event),
                            };
                            result = g.run(&mut ctx);
                            if result.is_err() {
                                break;
                            }
                        }
                        span.events = events;
                        result?;
                    }
                }
            }
        }
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
        yaml::<TransformConfig>(cfg)
            .expect("yaml")
            .build()
            .expect("build")
    }

    #[test]
    fn groups_run_in_their_contexts_with_conditions() {
        let p = build(
            r#"trace_statements:
  - context: resource
    statements: ['set(attributes["team"], "web")']
  - context: span
    conditions: ['kind == SPAN_KIND_SERVER']
    statements:
      - set(name, attributes["http.route"]) where attributes["http.route"] != nil
      - delete_key(attributes, "cookie")
  - context: spanevent
    statements: ['set(attributes["span"], span.name)']
  - set(span.attributes["flat"], true)
"#,
        );
        let mut server = span(
            "GET",
            vec![
                attr::string("http.route", "/users"),
                attr::string("cookie", "c"),
            ],
        );
        server.kind = 2;
        server.events.push(Event {
            name: "e".into(),
            ..Default::default()
        });
        let client = span("call", vec![attr::string("cookie", "c")]);
        let out = p
            .process(batch("svc", vec![server, client]))
            .expect("process");
        let res = &out[0].resource.as_ref().expect("resource").attributes;
        assert_eq!(attr::find_str(res, "team"), Some("web"));
        let s = spans(&out);
        assert_eq!(s[0].name, "/users");
        assert!(attr::find(&s[0].attributes, "cookie").is_none());
        assert_eq!(
            attr::find_str(&s[0].events[0].attributes, "span"),
            Some("/users")
        );
        assert_eq!(s[1].name, "call");
        assert!(
            attr::find(&s[1].attributes, "cookie").is_some(),
            "condition false: untouched"
        );
        assert_eq!(
            attr::find(&s[1].attributes, "flat"),
            attr::bool("flat", true).value.as_ref()
        );
    }

    #[test]
    fn error_mode_propagate_ignore_and_per_group() {
        let stmts = "trace_statements:\n  - context: span\n    statements: ['set(attributes[\"x\"], attributes[\"n\"] + 1)', 'set(attributes[\"after\"], 1)']\n";
        let input = || batch("svc", vec![span("a", vec![attr::string("n", "oops")])]);
        assert!(build(stmts).process(input()).is_err());
        let out = build(&format!("error_mode: ignore\n{stmts}"))
            .process(input())
            .expect("ignore");
        assert!(
            attr::find(&spans(&out)[0].attributes, "after").is_some(),
            "later statements still run"
        );
        let per_group = format!("{stmts}    error_mode: silent\n");
        assert!(build(&per_group).process(input()).is_ok());
    }

    #[test]
    fn config_errors() {
        assert!(yaml::<TransformConfig>("log_statements: []\n").is_err());
        assert!(
            yaml::<TransformConfig>(
                "trace_statements: [{context: span, statements: [], extra: 1}]\n"
            )
            .is_err()
        );
        let err = |s: &str| {
            yaml::<TransformConfig>(s)
                .expect("yaml")
                .build()
                .err()
                .expect("error")
        };
        let e = err("trace_statements:\n  - context: scope\n    statements: []\n");
        assert_eq!(e.path, "trace_statements[0].context");
        let e = err(
            "trace_statements:\n  - context: span\n    statements: ['set(name, \"a\")', 'set(nme, \"a\")']\n",
        );
        assert_eq!(e.path, "trace_statements[0].statements[1]");
        assert!(e.message.starts_with("column 5:"), "{e}");
        let e = err(
            "trace_statements:\n  - context: span\n    conditions: ['name = 1']\n    statements: []\n",
        );
        assert_eq!(e.path, "trace_statements[0].conditions[0]");
        let e = err("trace_statements: ['set(span.name, \"a\") where']\n");
        assert_eq!(e.path, "trace_statements[0]");
    }
}
