//! The synchronous span processors, one module per Collector processor type.
