//! A self-hostable server that speaks the InCountry point-of-presence REST API, on SQLite or
//! PostgreSQL.
//!
//! This crate is filled by a later milestone; see the workspace README for the plan.
