//! The box's processing stages. Each stage is a folder of small files; stages talk over
//! bounded channels. This crate never opens a socket of its own, a database or a web server:
//! the `appliance` binary wires it to the ISAPI client, SQLite and the web page.

pub mod downloader;
pub mod faces;
pub mod index;
pub mod keyframes;
