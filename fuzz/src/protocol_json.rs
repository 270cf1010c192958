//! Every payload of the box<->relay protocol, read as its reader reads it (bounded, its
//! version first, then its own checks), whatever the topic it came on. Each message read is
//! written again and read back: it must come back the same, since what one side forwards or
//! stores of a message is what it wrote of what it read.

use std::fmt::Debug;

use protocol::acks::Acks;
use protocol::activation::{ActivateDevice, DeviceCredentials};
use protocol::rpc::{RpcRequest, RpcResponse};
use protocol::search::{CreateSearch, SearchEvent};
use protocol::software::{SoftwareUpdate, decode_key};
use protocol::status::DeviceStatus;
use protocol::telemetry::{ClientAttributes, SharedAttributes, Telemetry};
use protocol::topics::parse_box_topic;
use protocol::uploads::UploadGrants;
use protocol::{Sequenced, decode, encode};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn run(data: &[u8]) {
    let _ = Sequenced::of(data);
    // What the relay reads from a box.
    round_trip::<Telemetry>(data);
    round_trip::<ClientAttributes>(data);
    round_trip::<SearchEvent>(data);
    round_trip::<ActivateDevice>(data);
    if let Ok(response) = RpcResponse::decode(data) {
        let again = RpcResponse::decode(&response.encode());
        assert_eq!(again.as_ref().ok(), Some(&response), "RpcResponse changed");
    }
    if let Ok(status) = DeviceStatus::decode(data) {
        assert_eq!(DeviceStatus::decode(&status.encode()).ok(), Some(status));
    }
    // What a box reads from the relay.
    round_trip::<SharedAttributes>(data);
    round_trip::<DeviceCredentials>(data);
    if let Ok(acks) = Acks::decode(data) {
        let _ = acks.count();
        assert_eq!(
            Acks::decode(&encode(&acks)).ok(),
            Some(acks),
            "Acks changed"
        );
    }
    if let Ok(grants) = UploadGrants::decode(data) {
        assert_eq!(UploadGrants::decode(&grants.encode()).ok(), Some(grants));
    }
    if let Ok(Ok(request)) = RpcRequest::decode(data) {
        let again = RpcRequest::decode(&request.encode());
        assert_eq!(
            again.ok().and_then(Result::ok),
            Some(request),
            "RpcRequest changed"
        );
    }
    if let Ok(Ok(search)) = decode::<CreateSearch>(data).map(CreateSearch::validated) {
        for embedding in search.embeddings() {
            let _ = embedding.vector();
        }
    }
    let _ = decode::<SoftwareUpdate>(data).map(SoftwareUpdate::validated);
    // Topics and keys arrive as text.
    let text = String::from_utf8_lossy(data);
    let _ = parse_box_topic(&text);
    let _ = decode_key(&text);
}

/// Reads `data` as a `T`; when it is one, writes it and reads it back: the same message.
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + Debug>(data: &[u8]) {
    if let Ok(first) = decode::<T>(data) {
        let written = encode(&first);
        match decode::<T>(&written) {
            Ok(again) => assert_eq!(
                again,
                first,
                "{} changed when written and read again",
                std::any::type_name::<T>()
            ),
            Err(e) => panic!(
                "{} read from {:?} was written as {:?}, which does not read back: {e}",
                std::any::type_name::<T>(),
                String::from_utf8_lossy(data),
                String::from_utf8_lossy(&written)
            ),
        }
    }
}
