//! The `span` processor: rename spans from attribute values (`name.from_attributes` joined by
//! `separator`), extract attributes from span names (`name.to_attributes.rules`, named-group
//! regexes; the matched part of the name becomes `{group}`), and set the status.
//!
//! ```yaml
//! processors:
//!   span/rename:
//!     name:
//!       to_attributes:
//!         rules: ['^/api/v1/document/(?P<documentId>.*)/update$']
//!     status: { code: Error, description: "bad thing" }
//!     include: { match_type: strict, services: [docs] }
//! ```
//!
//! Renaming from attributes happens first and is skipped when any of the keys is missing.
//! Rules are tried in order against the current name; with `break_after_match` the first rule
//! that matches ends the list. `keep_original_name` keeps the name and only adds attributes.

use regex::Regex;
use serde::{Deserialize, Serialize};
use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, Span, Status};

use super::common;
use super::matching::{IncludeExclude, MatchConfig};
use crate::{ConfigError, ProcessError, SpanProcessor};

/// Options of the `span` processor.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpanConfig {
    #[serde(default)]
    pub name: Option<NameConfig>,
    #[serde(default)]
    pub status: Option<StatusConfig>,
    #[serde(default)]
    pub include: Option<MatchConfig>,
    #[serde(default)]
    pub exclude: Option<MatchConfig>,
}

/// `name`: how the span is renamed.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NameConfig {
    #[serde(default)]
    pub from_attributes: Vec<String>,
    #[serde(default)]
    pub separator: String,
    #[serde(default)]
    pub to_attributes: Option<ToAttributesConfig>,
}

/// `name.to_attributes`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToAttributesConfig {
    #[serde(default)]
    pub rules: Vec<String>,
    #[serde(default)]
    pub break_after_match: bool,
    #[serde(default)]
    pub keep_original_name: bool,
    /// Not a Collector option here (it belongs to `name`), but configs in the wild put it under
    /// `to_attributes`; accepted so they load, and without effect.
    #[serde(default)]
    pub separator: Option<String>,
}

/// `status`: `code` is `Ok`, `Error` or `Unset`; `description` only with `Error`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    pub code: String,
    #[serde(default)]
    pub description: String,
}

struct Rule {
    re: Regex,
    names: Vec<Option<String>>,
}

struct SpanProcessorImpl {
    from_attributes: Vec<String>,
    separator: String,
    rules: Vec<Rule>,
    break_after_match: bool,
    keep_original_name: bool,
    status: Option<(StatusCode, String)>,
    filter: IncludeExclude,
}

impl SpanConfig {
    pub fn build(&self) -> Result<Box<dyn SpanProcessor>, ConfigError> {
        let name = self.name.clone().unwrap_or_default();
        let to = name.to_attributes.clone();
        if self.status.is_none() && name.from_attributes.is_empty() && to.is_none() {
            return Err(ConfigError::new(
                "name",
                "either name.from_attributes, name.to_attributes or status must be specified",
            ));
        }
        let to = to.unwrap_or_default();
        if self
            .name
            .as_ref()
            .is_some_and(|n| n.to_attributes.is_some())
            && to.rules.is_empty()
        {
            return Err(ConfigError::new(
                "name.to_attributes.rules",
                "at least one rule is required",
            ));
        }
        let rules = to
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let path = format!("name.to_attributes.rules[{i}]");
                let re = common::compile(&path, r)?;
                let names: Vec<Option<String>> = re
                    .capture_names()
                    .skip(1)
                    .map(|n| n.map(str::to_string))
                    .collect();
                if names.iter().all(Option::is_none) {
                    return Err(ConfigError::new(path, "the rule has no named group"));
                }
                Ok(Rule { re, names })
            })
            .collect::<Result<_, _>>()?;
        let status = match &self.status {
            None => None,
            Some(s) => {
                let code = match s.code.as_str() {
                    "Ok" => StatusCode::Ok,
                    "Error" => StatusCode::Error,
                    "Unset" => StatusCode::Unset,
                    other => {
                        return Err(ConfigError::new(
                            "status.code",
                            format!("unknown status code {other:?}: expected Ok, Error or Unset"),
                        ));
                    }
                };
                if code != StatusCode::Error && !s.description.is_empty() {
                    return Err(ConfigError::new(
                        "status.description",
                        "may only be set with code Error",
                    ));
                }
                Some((code, s.description.clone()))
            }
        };
        Ok(Box::new(SpanProcessorImpl {
            from_attributes: name.from_attributes,
            separator: name.separator,
            rules,
            break_after_match: to.break_after_match,
            keep_original_name: to.keep_original_name,
            status,
            filter: IncludeExclude::build(self.include.as_ref(), self.exclude.as_ref())?,
        }))
    }
}

impl SpanProcessorImpl {
    fn rename_from_attributes(&self, span: &mut Span) {
        if self.from_attributes.is_empty() || span.attributes.is_empty() {
            return;
        }
        let mut name = String::new();
        for (i, key) in self.from_attributes.iter().enumerate() {
            let Some(v) = common::get(&span.attributes, key) else {
                return;
            };
            if i > 0 {
                name.push_str(&self.separator);
            }
            // As the Collector writes them: no exponent for doubles, nothing for bytes,
            // maps, arrays and empty values.
            match &v.value {
                Some(Value::StringValue(s)) => name.push_str(s),
                Some(Value::BoolValue(b)) => name.push_str(if *b { "true" } else { "false" }),
                Some(Value::IntValue(n)) => name.push_str(&n.to_string()),
                Some(Value::DoubleValue(d)) if d.is_infinite() => {
                    name.push_str(if *d > 0.0 { "+Inf" } else { "-Inf" })
                }
                Some(Value::DoubleValue(d)) => name.push_str(&format!("{d}")),
                _ => {}
            }
        }
        span.name = name;
    }

    fn extract_from_name(&self, span: &mut Span) {
        if span.name.is_empty() {
            return;
        }
        for rule in &self.rules {
            let Some(caps) = rule.re.captures(&span.name) else {
                continue;
            };
            let mut new_name = String::with_capacity(span.name.len());
            let mut last = 0;
            let mut extracted = Vec::new();
            for (i, name) in rule.names.iter().enumerate() {
                let (Some(name), Some(m)) = (name, caps.get(i + 1)) else {
                    continue;
                };
                extracted.push((name.clone(), m.as_str().to_string()));
                if m.start() >= last {
                    new_name.push_str(&span.name[last..m.start()]);
                    new_name.push('{');
                    new_name.push_str(name);
                    new_name.push('}');
                    last = m.end();
                }
            }
            new_name.push_str(&span.name[last..]);
            for (k, v) in extracted {
                common::put_str(&mut span.attributes, &k, v);
            }
            if !self.keep_original_name {
                span.name = new_name;
            }
            if self.break_after_match {
                break;
            }
        }
    }
}

impl SpanProcessor for SpanProcessorImpl {
    fn process(&self, mut batch: Vec<ResourceSpans>) -> Result<Vec<ResourceSpans>, ProcessError> {
        for rs in &mut batch {
            let resource = rs.resource.as_ref();
            for ss in &mut rs.scope_spans {
                let scope = ss.scope.as_ref();
                for span in &mut ss.spans {
                    if !self.filter.applies(resource, scope, span) {
                        continue;
                    }
                    self.rename_from_attributes(span);
                    self.extract_from_name(span);
                    if let Some((code, description)) = &self.status {
                        let status = span.status.get_or_insert_with(Status::default);
                        status.code = *code as i32;
                        status.message = if *code == StatusCode::Error {
                            description.clone()
                        } else {
                            String::new()
                        };
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

    fn run(cfg: &str, input: Vec<Span>) -> Vec<Span> {
        let cfg: SpanConfig = yaml(cfg).expect("yaml");
        let out = cfg
            .build()
            .expect("build")
            .process(batch("svc", input))
            .expect("process");
        spans(&out).into_iter().cloned().collect()
    }

    #[test]
    fn renames_from_attributes_with_separator() {
        let out = run(
            "name: {from_attributes: [db.svc, operation, id], separator: '::'}\n",
            vec![
                span(
                    "x",
                    vec![
                        attr::string("db.svc", "location"),
                        attr::string("operation", "get"),
                        attr::int("id", 1234),
                    ],
                ),
                span("keep", vec![attr::string("db.svc", "location")]),
            ],
        );
        assert_eq!(out[0].name, "location::get::1234");
        assert_eq!(out[1].name, "keep", "a missing key leaves the name");
        let out = run(
            "name: {from_attributes: [d, b]}\n",
            vec![span(
                "x",
                vec![attr::double("d", 1e21), attr::bool("b", true)],
            )],
        );
        assert_eq!(out[0].name, "1000000000000000000000true");
    }

    #[test]
    fn to_attributes_extracts_and_rewrites_the_name() {
        let out = run(
            "name:\n  to_attributes:\n    rules: ['^/api/v1/document/(?P<documentId>.*)/update$']\n",
            vec![span("/api/v1/document/12345678/update", vec![])],
        );
        assert_eq!(out[0].name, "/api/v1/document/{documentId}/update");
        assert_eq!(
            attr::find_str(&out[0].attributes, "documentId"),
            Some("12345678")
        );
    }

    #[test]
    fn rules_chain_unless_break_after_match() {
        let rules = "rules: ['^/(?P<version>v\\d)/', '/users/(?P<user_id>\\d+)$']";
        let out = run(
            &format!("name:\n  to_attributes: {{{rules}}}\n"),
            vec![span("/v1/users/42", vec![])],
        );
        assert_eq!(out[0].name, "/{version}/users/{user_id}");
        assert_eq!(attr::find_str(&out[0].attributes, "user_id"), Some("42"));
        let out = run(
            &format!("name:\n  to_attributes: {{{rules}, break_after_match: true}}\n"),
            vec![span("/v1/users/42", vec![])],
        );
        assert_eq!(out[0].name, "/{version}/users/42");
        assert_eq!(attr::find_str(&out[0].attributes, "user_id"), None);
        let out = run(
            &format!("name:\n  to_attributes: {{{rules}, keep_original_name: true}}\n"),
            vec![span("/v1/users/42", vec![])],
        );
        assert_eq!(out[0].name, "/v1/users/42");
        assert_eq!(attr::find_str(&out[0].attributes, "version"), Some("v1"));
    }

    #[test]
    fn sets_status_for_included_spans_only() {
        let out = run(
            "status: {code: Error, description: bad thing}\ninclude: {match_type: strict, span_names: [a]}\n",
            vec![span("a", vec![]), span("b", vec![])],
        );
        let st = out[0].status.as_ref().expect("status");
        assert_eq!(
            (st.code, st.message.as_str()),
            (StatusCode::Error as i32, "bad thing")
        );
        assert!(out[1].status.is_none());
        let out = run("status: {code: Ok}\n", vec![span("a", vec![])]);
        assert_eq!(
            out[0].status.as_ref().map(|s| s.code),
            Some(StatusCode::Ok as i32)
        );
    }

    #[test]
    fn loads_the_span_section_of_the_full_seed_config() {
        // processors.span from the "full" seed config, verbatim.
        let out = run(
            "name:\n  to_attributes:\n    rules:\n      - \"^/api/v1/users/(?P<user_id>.*)\"\n    separator: \"\"\n",
            vec![span("/api/v1/users/123", vec![])],
        );
        assert_eq!(out[0].name, "/api/v1/users/{user_id}");
        assert_eq!(attr::find_str(&out[0].attributes, "user_id"), Some("123"));
    }

    #[test]
    fn config_errors_have_paths() {
        assert!(yaml::<SpanConfig>("name: {from_attribute: [a]}\n").is_err());
        assert!(yaml::<SpanConfig>("status: {code: Ok, message: x}\n").is_err());
        let err = |s: &str| {
            yaml::<SpanConfig>(s)
                .expect("yaml")
                .build()
                .err()
                .expect("error")
        };
        assert_eq!(err("{}\n").path, "name");
        assert_eq!(
            err("name: {to_attributes: {rules: []}}\n").path,
            "name.to_attributes.rules"
        );
        assert_eq!(
            err("name: {to_attributes: {rules: ['(?P<a>x)', '(']}}\n").path,
            "name.to_attributes.rules[1]"
        );
        assert_eq!(
            err("name: {to_attributes: {rules: ['(\\d+)']}}\n").path,
            "name.to_attributes.rules[0]"
        );
        assert_eq!(err("status: {code: ERROR}\n").path, "status.code");
        assert_eq!(
            err("status: {code: Ok, description: x}\n").path,
            "status.description"
        );
        assert_eq!(
            err("status: {code: Ok}\nexclude: {match_type: strict}\n").path,
            "exclude"
        );
    }
}
