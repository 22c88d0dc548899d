//! The `Storage` facade of the InCountry SDK: client-side encrypted, country-routed record
//! storage composed from a transport, a token provider and a cipher.
//!
//! This crate is filled by a later milestone; see the workspace README for the plan.
