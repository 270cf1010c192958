//! The relay's integration tests, one binary: every scenario runs against SQLite and against
//! PostgreSQL (`on_both_backends!`), over a real socket.

mod harness;
mod library;
mod world;

mod auth;
mod authorization;
mod billing;
mod cli;
mod console;
mod devices;
mod dunning;
mod identity;
mod invoices;
mod isolation;
mod migrations;
mod objects;
mod operations;
mod people;
mod searches;
mod tenants;
mod upgrade;
mod validation;
