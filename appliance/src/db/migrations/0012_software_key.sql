-- Migration 12: the relay's Ed25519 public key for box software packages, base64, as
-- activation delivered it (NULL for a box activated before relays had one, or by a relay
-- without one): the only key the box trusts a software update with.

ALTER TABLE uplink_identity ADD COLUMN software_key TEXT;
