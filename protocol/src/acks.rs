//! The relay's acknowledgements of what it applied: on `{prefix}/acks`, the outbox
//! sequences of a box's messages that took effect at the relay (or had before), as
//! inclusive ranges.
//!
//! Contract: the box lets an outbox row go only when a range here names its `seq`, not on
//! the broker's PUBACK: a broker that acknowledges a message nobody receives (a shared
//! subscription it forgot over a restart, a queue it overflowed) cannot lose it. An
//! acknowledgement may be lost or repeated; the box publishes again what stays
//! unacknowledged, and the relay applies each (box, seq) once, so neither costs more than
//! a duplicate.

use serde::{Deserialize, Serialize};

use crate::{ProtocolError, default_version};

/// The most ranges one acknowledgement carries (a box's window of unacknowledged
/// messages is far smaller).
pub const MAX_RANGES: usize = 4096;

/// Sequences the relay applied, `[first, last]` each, in any order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Acks {
    #[serde(default = "default_version")]
    pub v: u32,
    #[serde(default)]
    pub ranges: Vec<(u64, u64)>,
    /// The relay has just subscribed (after its start or the broker's): what the box
    /// published before and is still unacknowledged may have reached no one, so it is
    /// published again now rather than after the box's own wait.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resend: bool,
}

impl Acks {
    /// The fewest ranges covering `seqs` (any order, repeats allowed).
    pub fn of(mut seqs: Vec<u64>) -> Acks {
        seqs.sort_unstable();
        seqs.dedup();
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for seq in seqs {
            match ranges.last_mut() {
                Some((_, last)) if last.checked_add(1) == Some(seq) => *last = seq,
                _ => ranges.push((seq, seq)),
            }
        }
        Acks {
            v: crate::PROTOCOL_VERSION,
            ranges,
            resend: false,
        }
    }

    /// The relay's word that it has just subscribed ([`Acks::resend`]).
    pub fn resend() -> Acks {
        Acks {
            v: crate::PROTOCOL_VERSION,
            ranges: Vec::new(),
            resend: true,
        }
    }

    /// Reads an acknowledgement: bounded, every range in order (`first <= last`).
    pub fn decode(payload: &[u8]) -> Result<Acks, ProtocolError> {
        let acks: Acks = crate::decode(payload)?;
        if acks.ranges.len() > MAX_RANGES {
            return Err(ProtocolError::Malformed(format!(
                "{} ranges, over {MAX_RANGES}",
                acks.ranges.len()
            )));
        }
        if let Some((first, last)) = acks.ranges.iter().find(|(f, l)| f > l) {
            return Err(ProtocolError::Malformed(format!(
                "range {first}..={last} runs backwards"
            )));
        }
        Ok(acks)
    }

    /// How many sequences the ranges name.
    pub fn count(&self) -> u64 {
        self.ranges
            .iter()
            .map(|(first, last)| last - first + 1)
            .sum()
    }
}
