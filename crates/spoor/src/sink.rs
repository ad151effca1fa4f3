use std::sync::Arc;

use spoor_model::{ResourceSpans, SinkError, TraceSink};
use spoor_storage::SpanWriter;

/// Hands receiver batches to a storage writer.
pub struct StoreSink {
    writer: Arc<dyn SpanWriter>,
}

impl StoreSink {
    pub fn new(writer: Arc<dyn SpanWriter>) -> Self {
        Self { writer }
    }
}

#[async_trait::async_trait]
impl TraceSink for StoreSink {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        self.writer
            .write(batch)
            .await
            .map_err(|e| SinkError::new(e.kind(), e.to_string()))
    }
}
