//! The `attributes` processor: insert, update, upsert, delete, hash, extract and convert span
//! attributes, optionally only for spans selected by `include` / `exclude`.
//!
//! ```yaml
//! processors:
//!   attributes/pii:
//!     actions:
//!       - { key: environment, value: production, action: insert }
//!       - { key: http.url, pattern: ^/api/v1/users/(?P<user_id>\d+)$, action: extract }
//!       - { key: user.email, action: hash }
//!     exclude:
//!       match_type: strict
//!       services: [internal-tool]
//! ```

use serde::{Deserialize, Serialize};
use spoor_model::ResourceSpans;

use super::actions::{ActionConfig, Actions};
use super::matching::{IncludeExclude, MatchConfig};
use spoor_receivers::SignalBatch;

use crate::config::Signal;
use crate::{ConfigError, ProcessError, SpanProcessor};

/// Options of the `attributes` processor.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesConfig {
    #[serde(default)]
    pub actions: Vec<ActionConfig>,
    #[serde(default)]
    pub include: Option<MatchConfig>,
    #[serde(default)]
    pub exclude: Option<MatchConfig>,
}

impl AttributesConfig {
    pub fn build(&self) -> Result<Box<dyn SpanProcessor>, ConfigError> {
        Ok(Box::new(AttributesProcessor {
            actions: Actions::build("actions", &self.actions)?,
            matches_spans: self.include.is_some() || self.exclude.is_some(),
            filter: IncludeExclude::build(self.include.as_ref(), self.exclude.as_ref())?,
        }))
    }
}

struct AttributesProcessor {
    actions: Actions,
    /// `include`/`exclude` match span properties, so such a processor is for traces only.
    matches_spans: bool,
    filter: IncludeExclude,
}

impl SpanProcessor for AttributesProcessor {
    fn process(&self, mut batch: Vec<ResourceSpans>) -> Result<Vec<ResourceSpans>, ProcessError> {
        for rs in &mut batch {
            let resource = rs.resource.as_ref();
            for ss in &mut rs.scope_spans {
                let scope = ss.scope.as_ref();
                for span in &mut ss.spans {
                    if self.filter.applies(resource, scope, span) {
                        self.actions.apply(&mut span.attributes);
                    }
                }
            }
        }
        Ok(batch)
    }

    fn signals(&self) -> &'static [Signal] {
        if self.matches_spans {
            &[Signal::Traces]
        } else {
            &Signal::ALL
        }
    }

    /// Metrics: the attributes of every data point; logs: of every log record.
    fn process_signal(&self, mut batch: SignalBatch) -> Result<SignalBatch, ProcessError> {
        crate::signals::for_each_item_attributes(&mut batch, |attributes| {
            self.actions.apply(attributes)
        });
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::common::test_support::{batch, span, spans, yaml};
    use spoor_model::attr;

    fn run(cfg: &str, input: Vec<ResourceSpans>) -> Vec<ResourceSpans> {
        let cfg: AttributesConfig = yaml(cfg).expect("config");
        cfg.build().expect("build").process(input).expect("process")
    }

    #[test]
    fn insert_applies_only_to_included_spans() {
        let out = run(
            "actions: [{key: env, value: prod, action: insert}]\n\
             include: {match_type: strict, span_names: [a]}\n",
            batch("svc", vec![span("a", vec![]), span("b", vec![])]),
        );
        let s = spans(&out);
        assert_eq!(attr::find_str(&s[0].attributes, "env"), Some("prod"));
        assert_eq!(attr::find_str(&s[1].attributes, "env"), None);
    }

    #[test]
    fn exclude_by_service_regexp_skips_spans() {
        let cfg = "actions: [{key: env, value: 1, action: upsert}]\n\
                   exclude: {match_type: regexp, services: ['^intern']}\n";
        let out = run(cfg, batch("internal-tool", vec![span("a", vec![])]));
        assert!(spans(&out)[0].attributes.is_empty());
        let mut no_service = batch("x", vec![span("a", vec![])]);
        no_service[0].resource = None;
        let out = run(
            "actions: [{key: env, value: 1, action: upsert}]\n\
             include: {match_type: strict, services: ['<nil-service-name>']}\n",
            no_service,
        );
        assert_eq!(
            spans(&out)[0].attributes.len(),
            1,
            "a missing service.name matches <nil-service-name>"
        );
        let out = run(cfg, batch("frontend", vec![span("a", vec![])]));
        assert_eq!(
            spans(&out)[0].attributes,
            vec![attr::int("env", 1)],
            "the YAML int stays an int"
        );
    }

    #[test]
    fn include_by_attributes_resources_libraries_and_kinds() {
        let cfg = "actions: [{key: hit, value: true, action: insert}]\n\
                   include:\n  match_type: strict\n  attributes: [{key: http.status_code, value: 500}, {key: route}]\n  resources: [{key: service.name, value: svc}]\n  libraries: [{name: lib, version: '1.0'}]\n  span_kinds: [SPAN_KIND_SERVER]\n";
        let mut yes = span(
            "a",
            vec![
                attr::int("http.status_code", 500),
                attr::string("route", "/x"),
            ],
        );
        yes.kind = 2;
        let mut wrong_kind = yes.clone();
        wrong_kind.kind = 3;
        let mut wrong_value = yes.clone();
        wrong_value.attributes[0] = attr::string("http.status_code", "500");
        let out = run(cfg, batch("svc", vec![yes, wrong_kind, wrong_value]));
        let s = spans(&out);
        assert!(attr::find(&s[0].attributes, "hit").is_some());
        assert!(attr::find(&s[1].attributes, "hit").is_none());
        assert!(
            attr::find(&s[2].attributes, "hit").is_none(),
            "strict compares types"
        );
        let out = run(cfg, batch("other", vec![spans(&out)[0].clone()]));
        assert_eq!(
            spans(&out)[0].attributes.len(),
            3,
            "resource mismatch: no change"
        );
    }

    #[test]
    fn regexp_attribute_values_match_string_forms() {
        let cfg = "actions: [{key: hit, value: y, action: insert}]\n\
                   include: {match_type: regexp, attributes: [{key: code, value: '^5'}], libraries: [{name: '^li'}]}\n";
        let out = run(
            cfg,
            batch(
                "svc",
                vec![
                    span("a", vec![attr::int("code", 503)]),
                    span("b", vec![attr::int("code", 200)]),
                ],
            ),
        );
        let s = spans(&out);
        assert!(attr::find(&s[0].attributes, "hit").is_some());
        assert!(attr::find(&s[1].attributes, "hit").is_none());
    }

    #[test]
    fn config_rejects_unknown_fields_and_reports_paths() {
        let err = yaml::<AttributesConfig>("actions: []\nbogus: 1\n").expect_err("unknown");
        assert!(err.contains("bogus"), "{err}");
        let err = yaml::<AttributesConfig>("actions: [{key: a, action: insert, valu: 1}]\n")
            .expect_err("unknown");
        assert!(err.contains("valu"), "{err}");
        let build = |s: &str| {
            yaml::<AttributesConfig>(s)
                .expect("yaml")
                .build()
                .err()
                .expect("error")
        };
        assert_eq!(build("actions: []\n").path, "actions");
        let e = build(
            "actions: [{key: a, value: 1, action: insert}, {key: b, pattern: '(', action: delete}]\n",
        );
        assert_eq!(e.path, "actions[1].pattern");
        assert!(e.message.contains("invalid regex"), "{e}");
        let e =
            build("actions: [{key: a, value: 1, action: insert}]\ninclude: {span_names: [x]}\n");
        assert_eq!(e.path, "include.match_type");
        let e =
            build("actions: [{key: a, value: 1, action: insert}]\nexclude: {match_type: strict}\n");
        assert_eq!(e.path, "exclude");
        let e = build(
            "actions: [{key: a, value: 1, action: insert}]\ninclude: {match_type: regexp, span_names: ['[']}\n",
        );
        assert_eq!(e.path, "include.span_names[0]");
        let e = build(
            "actions: [{key: a, value: 1, action: insert}]\ninclude: {match_type: strict, span_kinds: [server]}\n",
        );
        assert_eq!(e.path, "include.span_kinds[0]");
        let e = build(
            "actions: [{key: a, value: 1, action: insert}]\ninclude: {match_type: regexp, attributes: [{key: k, value: 3}]}\n",
        );
        assert_eq!(e.path, "include.attributes[0].value");
    }
}
