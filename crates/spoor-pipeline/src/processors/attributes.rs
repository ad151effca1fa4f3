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
        let (filter, signals) =
            IncludeExclude::build_for_signals(self.include.as_ref(), self.exclude.as_ref())?;
        Ok(Box::new(AttributesProcessor {
            actions: Actions::build("actions", &self.actions)?,
            signals,
            filter,
        }))
    }
}

struct AttributesProcessor {
    actions: Actions,
    /// All signals, or the one whose properties `include`/`exclude` match (`span_names`:
    /// traces; `metric_names`: metrics; `log_bodies`: logs).
    signals: &'static [Signal],
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
        self.signals
    }

    /// Metrics: the attributes of every data point; logs: of every log record; each only
    /// where `include`/`exclude` select it.
    fn process_signal(&self, mut batch: SignalBatch) -> Result<SignalBatch, ProcessError> {
        match &mut batch {
            SignalBatch::Metrics(rm) => {
                for r in rm.iter_mut() {
                    let resource = r.resource.as_ref();
                    for sm in r.scope_metrics.iter_mut() {
                        let scope = sm.scope.as_ref();
                        for m in sm.metrics.iter_mut() {
                            let name = std::mem::take(&mut m.name);
                            crate::signals::for_each_point_attributes(m, |attributes| {
                                if self.filter.applies_with(|b| {
                                    b.matches_point(resource, scope, &name, attributes)
                                }) {
                                    self.actions.apply(attributes);
                                }
                            });
                            m.name = name;
                        }
                    }
                }
            }
            SignalBatch::Logs(rl) => {
                for r in rl.iter_mut() {
                    let resource = r.resource.as_ref();
                    for sl in r.scope_logs.iter_mut() {
                        let scope = sl.scope.as_ref();
                        for record in sl.log_records.iter_mut() {
                            if self
                                .filter
                                .applies_with(|b| b.matches_log(resource, scope, record))
                            {
                                self.actions.apply(&mut record.attributes);
                            }
                        }
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

    mod signals {
        use super::*;
        use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        use opentelemetry_proto::tonic::metrics::v1::{
            Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
        };
        use opentelemetry_proto::tonic::resource::v1::Resource;

        fn processor(cfg: &str) -> Box<dyn SpanProcessor> {
            yaml::<AttributesConfig>(cfg)
                .expect("config")
                .build()
                .expect("build")
        }

        fn gauge(name: &str, points: Vec<Vec<KeyValue>>) -> Metric {
            Metric {
                name: name.to_string(),
                data: Some(Data::Gauge(Gauge {
                    data_points: points
                        .into_iter()
                        .map(|attributes| NumberDataPoint {
                            attributes,
                            ..Default::default()
                        })
                        .collect(),
                })),
                ..Default::default()
            }
        }

        fn points(batch: &SignalBatch) -> Vec<(String, Vec<KeyValue>)> {
            let SignalBatch::Metrics(rm) = batch else {
                panic!("metrics expected")
            };
            let mut out = Vec::new();
            for m in rm
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
            {
                if let Some(Data::Gauge(g)) = &m.data {
                    for p in &g.data_points {
                        out.push((m.name.clone(), p.attributes.clone()));
                    }
                }
            }
            out
        }

        use spoor_model::otlp_common::KeyValue;

        #[test]
        fn metric_names_and_point_attributes_select_data_points() {
            let p = processor(
                "actions: [{key: hit, value: y, action: insert}]\n\
                 include: {match_type: regexp, metric_names: ['^orders'], resources: [{key: env, value: '^prod'}]}\n\
                 exclude: {match_type: strict, attributes: [{key: shop, value: test}]}\n",
            );
            assert_eq!(p.signals(), &[Signal::Metrics]);
            let batch = |env: &str| {
                SignalBatch::Metrics(vec![ResourceMetrics {
                    resource: Some(Resource {
                        attributes: vec![attr::string("env", env)],
                        ..Default::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        metrics: vec![
                            gauge(
                                "orders_total",
                                vec![
                                    vec![attr::string("shop", "north")],
                                    vec![attr::string("shop", "test")],
                                ],
                            ),
                            gauge("latency", vec![vec![]]),
                        ],
                        ..Default::default()
                    }],
                    ..Default::default()
                }])
            };
            let out = points(&p.process_signal(batch("production")).expect("process"));
            let hit: Vec<bool> = out
                .iter()
                .map(|(_, a)| attr::find(a, "hit").is_some())
                .collect();
            assert_eq!(hit, [true, false, false], "{out:?}");
            assert_eq!(out[0].0, "orders_total", "the metric keeps its name");
            let out = points(&p.process_signal(batch("staging")).expect("process"));
            assert!(out.iter().all(|(_, a)| attr::find(a, "hit").is_none()));
        }

        #[test]
        fn log_bodies_severity_texts_and_libraries_select_records() {
            let p = processor(
                "actions: [{key: hit, value: y, action: insert}]\n\
                 include: {match_type: strict, log_bodies: [disk almost full], log_severity_texts: [WARN], libraries: [{name: app}]}\n",
            );
            assert_eq!(p.signals(), &[Signal::Logs]);
            let record = |body: &str, severity: &str| LogRecord {
                body: attr::string("b", body).value,
                severity_text: severity.to_string(),
                ..Default::default()
            };
            let batch = |scope: &str| {
                SignalBatch::Logs(vec![ResourceLogs {
                    scope_logs: vec![ScopeLogs {
                        scope: Some(InstrumentationScope {
                            name: scope.to_string(),
                            ..Default::default()
                        }),
                        log_records: vec![
                            record("disk almost full", "WARN"),
                            record("disk almost full", "INFO"),
                            record("other", "WARN"),
                        ],
                        ..Default::default()
                    }],
                    ..Default::default()
                }])
            };
            let hits = |b: SignalBatch| -> Vec<bool> {
                let SignalBatch::Logs(rl) = p.process_signal(b).expect("process") else {
                    panic!("logs expected")
                };
                rl[0].scope_logs[0]
                    .log_records
                    .iter()
                    .map(|r| attr::find(&r.attributes, "hit").is_some())
                    .collect()
            };
            assert_eq!(hits(batch("app")), [true, false, false]);
            assert_eq!(hits(batch("other-lib")), [false, false, false]);
        }

        #[test]
        fn the_properties_decide_the_signals_and_cannot_be_mixed() {
            let signals = |m: &str| {
                processor(&format!(
                    "actions: [{{key: a, value: 1, action: insert}}]\ninclude: {m}\n"
                ))
                .signals()
            };
            assert_eq!(
                signals("{match_type: strict, span_names: [a]}"),
                &[Signal::Traces]
            );
            assert_eq!(
                signals("{match_type: strict, resources: [{key: a}]}"),
                &Signal::ALL
            );
            assert_eq!(
                signals("{match_type: strict, log_bodies: [x]}"),
                &[Signal::Logs]
            );
            let err = |cfg: &str| {
                yaml::<AttributesConfig>(cfg)
                    .expect("yaml")
                    .build()
                    .err()
                    .expect("error")
            };
            let e = err(
                "actions: [{key: a, value: 1, action: insert}]\ninclude: {match_type: strict, span_names: [a], metric_names: [m]}\n",
            );
            assert_eq!(e.path, "include");
            let e = err(
                "actions: [{key: a, value: 1, action: insert}]\ninclude: {match_type: strict, span_names: [a]}\nexclude: {match_type: strict, metric_names: [m]}\n",
            );
            assert_eq!(e.path, "exclude");
            let e = yaml::<AttributesConfig>("actions: [{key: a, value: 1, action: insert}]\ninclude: {match_type: strict, log_severity_number: {min: INFO}}\n")
                .expect_err("not implemented: refused, not ignored");
            assert!(e.contains("log_severity_number"), "{e}");
            let span: crate::processors::span::SpanConfig = yaml(
                "name: {to_attributes: {rules: ['^(?P<x>.*)$']}}\ninclude: {match_type: strict, metric_names: [m]}\n",
            )
            .expect("yaml");
            let e = span.build().err().expect("span processors take spans only");
            assert_eq!(e.path, "include");
            assert!(e.message.contains("spans only"), "{e}");
        }
    }
}
