//! The `resource` processor: the attribute actions of the `attributes` processor applied to the
//! resource of every span batch (`attributes: [{key, value, action}]`).
//!
//! ```yaml
//! processors:
//!   resource:
//!     attributes:
//!       - { key: deployment.environment, value: production, action: upsert }
//!       - { key: host.ip, action: delete }
//! ```

use serde::{Deserialize, Serialize};
use spoor_model::ResourceSpans;
use spoor_model::otlp_resource::Resource;

use super::actions::{ActionConfig, Actions};
use spoor_receivers::SignalBatch;

use crate::config::Signal;
use crate::{ConfigError, ProcessError, SpanProcessor};

/// Options of the `resource` processor.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    #[serde(default)]
    pub attributes: Vec<ActionConfig>,
}

impl ResourceConfig {
    pub fn build(&self) -> Result<Box<dyn SpanProcessor>, ConfigError> {
        Ok(Box::new(ResourceProcessor(Actions::build(
            "attributes",
            &self.attributes,
        )?)))
    }
}

struct ResourceProcessor(Actions);

impl SpanProcessor for ResourceProcessor {
    fn process(&self, mut batch: Vec<ResourceSpans>) -> Result<Vec<ResourceSpans>, ProcessError> {
        for rs in &mut batch {
            let resource = rs.resource.get_or_insert_with(Resource::default);
            self.0.apply(&mut resource.attributes);
        }
        Ok(batch)
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn process_signal(&self, mut batch: SignalBatch) -> Result<SignalBatch, ProcessError> {
        for resource in crate::signals::resources(&mut batch) {
            self.0.apply(&mut resource.attributes);
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::common::test_support::{batch, span, yaml};
    use spoor_model::attr;

    #[test]
    fn upserts_and_deletes_resource_attributes() {
        let cfg: ResourceConfig = yaml(
            "attributes:\n  - {key: deployment.environment, value: production, action: upsert}\n  - {key: service.name, action: delete}\n  - {key: copied, from_attribute: deployment.environment, action: insert}\n",
        )
        .expect("yaml");
        let p = cfg.build().expect("build");
        let mut input = batch("svc", vec![span("a", vec![attr::string("x", "y")])]);
        input.push(ResourceSpans::default());
        let out = p.process(input).expect("process");
        for rs in &out {
            let attrs = &rs.resource.as_ref().expect("resource").attributes;
            assert_eq!(
                attrs,
                &vec![
                    attr::string("deployment.environment", "production"),
                    attr::string("copied", "production"),
                ]
            );
        }
        assert_eq!(
            out[0].scope_spans[0].spans[0].attributes.len(),
            1,
            "spans untouched"
        );
    }

    #[test]
    fn loads_the_resource_section_of_the_full_seed_config() {
        let cfg: ResourceConfig = yaml(
            "attributes:\n  - key: service.name\n    value: \"my-app\"\n    action: upsert\n  - key: service.version\n    value: \"1.0.0\"\n    action: upsert\n  - key: deployment.environment\n    value: \"production\"\n    action: upsert\n",
        )
        .expect("yaml");
        let out = cfg
            .build()
            .expect("build")
            .process(batch("svc", vec![span("a", vec![])]))
            .expect("process");
        let attrs = &out[0].resource.as_ref().expect("resource").attributes;
        assert_eq!(attr::find_str(attrs, "service.name"), Some("my-app"));
        assert_eq!(attr::find_str(attrs, "service.version"), Some("1.0.0"));
        assert_eq!(attrs.len(), 3);
    }

    #[test]
    fn config_errors() {
        assert!(
            yaml::<ResourceConfig>("actions: []\n").is_err(),
            "unknown field"
        );
        let e = yaml::<ResourceConfig>("attributes: []\n")
            .expect("yaml")
            .build()
            .err()
            .expect("empty list refused");
        assert_eq!(e.path, "attributes");
        let e = yaml::<ResourceConfig>("attributes: [{key: a, action: upsert}]\n")
            .expect("yaml")
            .build()
            .err()
            .expect("no value");
        assert_eq!(e.path, "attributes[0]");
    }
}
