//! A real Mosquitto for each test and a small MQTT client that plays a box or a relay: the
//! workspace's `testkit` (shared with the box's and the end-to-end tests), under the names
//! the relay's broker and uplink tests use.

pub(crate) use testkit::{ADMIN_PASSWORD, ADMIN_USER, Mqtt, TestBroker, free_port};
