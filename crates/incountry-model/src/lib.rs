//! Records, filters, sort orders, country codes and the wire types of the InCountry API, with
//! their validation.
//!
//! This crate is filled by a later milestone; see the workspace README for the plan.
