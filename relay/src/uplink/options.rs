//! The relay's MQTT v5 connection options: a persistent session under a stable client id,
//! manual acknowledgements, a receive maximum that bounds what waits to be applied, and a
//! packet limit above the broker's, so an oversized payload reaches the relay (and is
//! dropped with its reason) instead of closing the connection; TCP_NODELAY, since every
//! message is small and waits for an answer.

use std::time::Duration;

use rumqttc::v5::MqttOptions;

use super::UplinkError;
use crate::config::BrokerConfig;

/// Requests (publishes, acks, subscriptions) the client queues before `publish` waits.
pub(super) const REQUEST_CAPACITY: usize = 1024;

/// QoS 1 messages the broker may send before the relay acknowledges them.
const RECEIVE_MAXIMUM: u16 = 512;

/// RPC requests published and not yet acknowledged by the broker at once.
const OUTGOING_IN_FLIGHT: u16 = 1024;

/// Above Mosquitto's `max_packet_size` (1 MiB in relay/broker/mosquitto.conf).
const MAX_PACKET_BYTES: u32 = 2 * 1024 * 1024;

/// `{username}-{hostname}` unless the configuration names one.
pub(super) fn client_id(config: &BrokerConfig) -> String {
    config.client_id.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        format!("{}-{}", config.username, host)
    })
}

pub(super) fn mqtt_options(
    config: &BrokerConfig,
    url: &str,
    ca_pem: Option<Vec<u8>>,
) -> Result<MqttOptions, UplinkError> {
    let (host, port, tls) = crate::broker::parse_url(url)?;
    let mut options = MqttOptions::new(client_id(config), host, port);
    options.set_credentials(&config.username, &config.password);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_start(false);
    options.set_session_expiry_interval(Some(config.session_expiry_seconds));
    options.set_manual_acks(true);
    options.set_receive_maximum(Some(RECEIVE_MAXIMUM));
    options.set_max_packet_size(Some(MAX_PACKET_BYTES));
    // rumqttc keeps a slot per packet id it may have in flight, u16::MAX of them (13 MB)
    // unless told; RPC requests waiting for the broker's acknowledgement are far fewer.
    options.set_outgoing_inflight_upper_limit(OUTGOING_IN_FLIGHT);
    // Requests and answers are small: Nagle's algorithm would hold each behind the peer's
    // delayed ACK (tens of ms a call).
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    options.set_network_options(network);
    if tls {
        options.set_transport(match ca_pem {
            Some(ca) => rumqttc::Transport::tls(ca, None, None),
            None => rumqttc::Transport::tls_with_default_config(),
        });
    }
    Ok(options)
}
