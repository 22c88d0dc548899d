//! Token providers for the InCountry API: the `TokenProvider` trait, OAuth2 client credentials
//! and static tokens.
//!
//! This crate is filled by a later milestone; see the workspace README for the plan.
