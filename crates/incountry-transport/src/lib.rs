//! The HTTP transport of the InCountry SDK: the `Transport` trait and a hyper + rustls
//! implementation with connection pooling, timeouts and retries.
//!
//! This crate is filled by a later milestone; see the workspace README for the plan.
