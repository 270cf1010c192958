//! The wire format: what each message looks like, that both sides read back what they
//! wrote, and that everything a peer or an attacker might send gets a clear error.

use serde_json::json;
use uuid::Uuid;

use crate::{
    ErrorBody, MAX_PAYLOAD_BYTES, PROTOCOL_VERSION, ProtocolError,
    acks::Acks,
    decode,
    rpc::{Method, RpcError, RpcRequest, RpcResponse, SetConfig},
    search::{CreateSearch, SearchEvent, SearchEventBody, SearchMatch, WireEmbedding},
    telemetry::Telemetry,
    topics::{THINGSBOARD_PREFIX, Topic, Topics, parse_box_topic},
};

fn create_search() -> CreateSearch {
    let vector: Vec<f32> = (0..128).map(|i| (i as f32 - 64.0) / 1000.0).collect();
    CreateSearch {
        search_id: Uuid::from_u128(7),
        embedding: WireEmbedding::new("dlib-resnet-v1", &vector),
        from_ms: 1_764_000_000_000,
        to_ms: 1_764_086_400_000,
        cameras: vec!["gate".to_owned()],
        max_distance: Some(0.4),
        more_embeddings: Vec::new(),
    }
}

fn decoded(payload: &[u8]) -> RpcRequest {
    RpcRequest::decode(payload)
        .expect("a request")
        .expect("a known method with good params")
}

#[test]
fn rpc_requests_round_trip_with_their_params() {
    for method in [
        Method::Ping,
        Method::GetDiagnostics,
        Method::Restart,
        Method::SetConfig(SetConfig {
            values: [("search.frame_width".to_owned(), json!(640))].into(),
        }),
        Method::CreateSearch(create_search()),
        Method::CancelSearch(crate::rpc::CancelSearch {
            search_id: Uuid::from_u128(9),
        }),
        Method::SetStanding(crate::rpc::SetStanding {
            standing: crate::rpc::Standing::Suspended,
            decided_at_ms: 1_700_000_000_000,
        }),
    ] {
        let request = RpcRequest {
            method,
            expires_at_ms: Some(5),
        };
        let payload = request.encode();
        let text = String::from_utf8(payload.clone()).expect("JSON is UTF-8");
        assert!(
            text.contains(&format!("\"method\":\"{}\"", request.method_name())),
            "{text}"
        );
        assert!(text.contains("\"v\":1"), "{text}");
        assert_eq!(decoded(&payload), request);
    }
}

#[test]
fn a_standing_that_is_not_one_is_invalid_params() {
    let payload =
        br#"{"v":1,"method":"setStanding","params":{"standing":"paused","decided_at_ms":1}}"#;
    let refused = RpcRequest::decode(payload)
        .expect("a request")
        .expect_err("paused is no standing");
    assert_eq!(refused.code, "invalid_params");
    assert!(refused.message.contains("paused"), "{}", refused.message);
}

#[test]
fn a_thingsboard_style_request_is_read() {
    // ThingsBoard's server-side RPC payload has no version and no expiry.
    let request = decoded(br#"{"method":"ping","params":{}}"#);
    assert_eq!(request.method, Method::Ping);
    assert_eq!(request.expires_at_ms, None);
    // Parameters may be left out for methods that take none.
    assert_eq!(decoded(br#"{"method":"restart"}"#).method, Method::Restart);
}

#[test]
fn unknown_methods_and_fields_are_tolerated() {
    let request = decoded(br#"{"v":1,"method":"reboot","params":{"x":1},"extra":true}"#);
    assert_eq!(request.method, Method::Unknown("reboot".to_owned()));
    let answer = RpcError::unknown_method("reboot");
    assert_eq!(answer.code, "unknown_method");
    // A newer peer's extra fields in known params are ignored.
    let mut value: serde_json::Value =
        serde_json::from_slice(&RpcRequest::new(Method::CreateSearch(create_search())).encode())
            .expect("JSON");
    value["params"]["added_later"] = json!("x");
    value["also_new"] = json!([1, 2]);
    let request = decoded(&serde_json::to_vec(&value).expect("JSON"));
    assert_eq!(request.method, Method::CreateSearch(create_search()));
}

#[test]
fn bad_params_are_an_answer_not_a_crash() {
    for (payload, field) in [
        (
            json!({"method":"cancelSearch","params":{"search_id":"not-a-uuid"}}),
            "UUID",
        ),
        (json!({"method":"setConfig","params":{}}), "values"),
        (
            json!({"method":"createSearch","params":{"search_id": Uuid::nil()}}),
            "embedding",
        ),
    ] {
        let bytes = serde_json::to_vec(&payload).expect("JSON");
        let error = RpcRequest::decode(&bytes)
            .expect("still a request")
            .expect_err("params refused");
        assert_eq!(error.code, "invalid_params", "{payload}");
        assert!(
            error.message.contains(field),
            "{payload}: {}",
            error.message
        );
    }
    let mut backwards = create_search();
    backwards.to_ms = backwards.from_ms;
    let error = RpcRequest::decode(&RpcRequest::new(Method::CreateSearch(backwards)).encode())
        .expect("a request")
        .expect_err("an empty span");
    assert!(error.message.contains("to_ms"), "{}", error.message);
}

#[test]
fn payloads_that_are_not_messages_are_refused_with_the_reason() {
    let check = |payload: &[u8], expected: fn(&ProtocolError) -> bool| {
        let error = RpcRequest::decode(payload).expect_err("refused");
        assert!(
            expected(&error),
            "{}: {error}",
            String::from_utf8_lossy(payload)
        );
    };
    check(b"", |e| matches!(e, ProtocolError::Malformed(_)));
    check(b"\xff\xfe", |e| matches!(e, ProtocolError::Malformed(_)));
    check(b"[1,2]", |e| matches!(e, ProtocolError::Malformed(_)));
    check(
        br#"{"params":{}}"#,
        |e| matches!(e, ProtocolError::Malformed(m) if m.contains("method")),
    );
    check(br#"{"v":2,"method":"ping"}"#, |e| {
        *e == ProtocolError::Version {
            found: 2,
            supported: PROTOCOL_VERSION,
        }
    });
    let huge = format!(
        r#"{{"method":"ping","pad":"{}"}}"#,
        "x".repeat(MAX_PAYLOAD_BYTES)
    );
    check(huge.as_bytes(), |e| {
        matches!(e, ProtocolError::TooLarge { .. })
    });
}

#[test]
fn embeddings_travel_exactly_and_are_checked() {
    let vector = vec![0.1_f32, -0.25, f32::MIN_POSITIVE, 1e-30];
    let wire = WireEmbedding::new("dlib-resnet-v1", &vector);
    assert_eq!(wire.vector().expect("vector"), vector);
    for bad in ["!!!", "AAA=", "", "AADAfw=="] {
        let wire = WireEmbedding {
            model: "m".to_owned(),
            vector: bad.to_owned(),
        };
        let error = wire.vector().expect_err(bad);
        assert!(
            matches!(
                error,
                ProtocolError::Invalid {
                    field: "embedding.vector",
                    ..
                }
            ),
            "{bad}: {error}"
        );
    }
}

#[test]
fn rpc_responses_carry_one_of_result_and_error() {
    let ok = RpcResponse::ok(&crate::search::SearchAccepted {
        task_id: "t-1".to_owned(),
    });
    let back = RpcResponse::decode(&ok.encode()).expect("response");
    let accepted: crate::search::SearchAccepted = back.into_result().expect("result");
    assert_eq!(accepted.task_id, "t-1");
    let err = RpcResponse::err(RpcError::new("model_mismatch", "box has dlib-resnet-v1"));
    let back = RpcResponse::decode(&err.encode()).expect("response");
    assert_eq!(
        back.into_result::<serde_json::Value>()
            .expect_err("error")
            .code,
        "model_mismatch"
    );
    for bad in [
        &br#"{"v":1}"#[..],
        br#"{"result":1,"error":{"code":"x","message":"y"}}"#,
    ] {
        assert!(
            RpcResponse::decode(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn search_events_are_tagged_and_numbered() {
    let event = SearchEvent::new(
        42,
        Uuid::from_u128(7),
        SearchEventBody::Match(SearchMatch {
            match_id: 3,
            time_ms: 1_764_000_000_500,
            camera: "gate".to_owned(),
            distance: 0.31,
            face_box: [10.0, 20.0, 64.0, 80.0],
        }),
    );
    let value: serde_json::Value = serde_json::from_slice(&crate::encode(&event)).expect("JSON");
    assert_eq!(value["kind"], "match");
    assert_eq!(value["seq"], 42);
    assert_eq!(value["v"], 1);
    let back: SearchEvent = decode(&crate::encode(&event)).expect("event");
    assert_eq!(back, event);
    let finished: SearchEvent = decode(
        br#"{"seq":43,"search_id":"00000000-0000-0000-0000-000000000007","kind":"finished","state":"failed","reason":"model_mismatch"}"#,
    )
    .expect("event");
    assert!(
        matches!(finished.body, SearchEventBody::Finished { ref state, .. } if state == "failed")
    );
    assert!(
        decode::<SearchEvent>(
            br#"{"seq":1,"search_id":"00000000-0000-0000-0000-000000000007","kind":"gossip"}"#
        )
        .is_err()
    );
}

#[test]
fn telemetry_reads_with_fields_added_later() {
    let sample: Telemetry = decode(
        br#"{"ts_ms":1,"uptime_s":2,"cameras_online":3,"cameras_total":4,"disk_free_bytes":5,
            "outbox_depth":6,"download_queue":7,"software_version":"0.1.0","model_id":"m","gpu":null}"#,
    )
    .expect("telemetry");
    assert_eq!(
        (sample.v, sample.cameras_total, sample.indexing_lag_s),
        (1, 4, None)
    );
}

#[test]
fn topics_follow_thingsboard_under_a_prefix() {
    let tenant = Uuid::from_u128(1);
    let device = Uuid::from_u128(2);
    let topics = Topics::for_box(tenant, device);
    let prefix = format!("dipper/{tenant}/{device}");
    assert_eq!(topics.prefix(), prefix);
    assert_eq!(topics.all(), format!("{prefix}/#"));
    assert_eq!(topics.rpc_requests(), format!("{prefix}/rpc/request/+"));
    for topic in [
        Topic::Telemetry,
        Topic::Attributes,
        Topic::AttributesRequest(3),
        Topic::AttributesResponse(3),
        Topic::RpcRequest(17),
        Topic::RpcResponse(17),
        Topic::Events,
        Topic::Status,
        Topic::Acks,
    ] {
        let name = topics.topic(&topic);
        assert!(name.starts_with(&prefix), "{name}");
        assert_eq!(topics.parse(&name), Some(topic.clone()), "{name}");
        assert_eq!(
            parse_box_topic(&name),
            Some((tenant, device, topic)),
            "{name}"
        );
    }
    let thingsboard = Topics::with_prefix(THINGSBOARD_PREFIX);
    assert_eq!(
        thingsboard.topic(&Topic::RpcRequest(5)),
        "v1/devices/me/rpc/request/5"
    );
    assert_eq!(
        thingsboard.topic(&Topic::Telemetry),
        "v1/devices/me/telemetry"
    );
    for foreign in [
        "dipper/x/y/telemetry".to_owned(),
        format!("{prefix}/rpc/request/abc"),
        format!("{prefix}/rpc/request/1/extra"),
        format!("{prefix}x/telemetry"),
        "other/topic".to_owned(),
    ] {
        assert_eq!(topics.parse(&foreign), None, "{foreign}");
        if !foreign.starts_with(&prefix) || foreign.contains("abc") || foreign.contains("extra") {
            assert_eq!(parse_box_topic(&foreign), None, "{foreign}");
        }
    }
}

#[test]
fn the_error_body_has_one_shape() {
    let body = ErrorBody::new("invalid_field", "from must be before to").with_field("from");
    let value = serde_json::to_value(&body).expect("JSON");
    assert_eq!(
        value,
        json!({"error":"invalid_field","message":"from must be before to","field":"from"})
    );
    let bare = serde_json::to_value(ErrorBody::new("not_found", "no such object")).expect("JSON");
    assert_eq!(
        bare,
        json!({"error":"not_found","message":"no such object"})
    );
}

#[test]
fn every_outbox_message_names_its_sequence() {
    let mut response = RpcResponse::ok(&"pong");
    assert_eq!(crate::Sequenced::of(&response.encode()), None);
    response.seq = Some(9);
    assert_eq!(crate::Sequenced::of(&response.encode()), Some(9));
    assert_eq!(
        RpcResponse::decode(&response.encode())
            .expect("response")
            .seq,
        Some(9)
    );
    let telemetry = br#"{"seq":10,"ts_ms":1,"uptime_s":2,"cameras_online":3,"cameras_total":4,"disk_free_bytes":5,"outbox_depth":6,"download_queue":7,"software_version":"0.1.0","model_id":"m"}"#;
    assert_eq!(
        decode::<Telemetry>(telemetry).expect("telemetry").seq,
        Some(10)
    );
    assert_eq!(crate::Sequenced::of(telemetry), Some(10));
    let event = crate::encode(&SearchEvent::new(
        11,
        Uuid::from_u128(7),
        SearchEventBody::Finished {
            state: "done".to_owned(),
            reason: None,
            camera_seconds: None,
            matches: None,
        },
    ));
    assert_eq!(crate::Sequenced::of(&event), Some(11));
    for not_sequenced in [
        &b"offline"[..],
        b"[1,2]",
        br#"{"seq":-1}"#,
        br#"{"seq":"7"}"#,
    ] {
        assert_eq!(
            crate::Sequenced::of(not_sequenced),
            None,
            "{not_sequenced:?}"
        );
    }
}

#[test]
fn a_status_reads_as_json_or_as_the_bare_word() {
    use crate::status::{DeviceStatus, Presence};
    let online = DeviceStatus::new(Presence::Online);
    assert_eq!(
        DeviceStatus::decode(&online.encode()).expect("round trip"),
        online
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&online.encode()).expect("json"),
        json!({"v": PROTOCOL_VERSION, "state": "online"})
    );
    for (payload, state) in [
        (&b"offline"[..], Presence::Offline),
        (b" online\n", Presence::Online),
        (br#"{"state":"offline","extra":1}"#, Presence::Offline),
    ] {
        let read = DeviceStatus::decode(payload).expect("a status");
        assert_eq!(read.state, state, "{}", String::from_utf8_lossy(payload));
    }
    for bad in [
        &b"asleep"[..],
        br#"{"state":"asleep"}"#,
        br#"{"v":99,"state":"online"}"#,
    ] {
        assert!(
            DeviceStatus::decode(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn acknowledgements_name_each_sequence_once_in_the_fewest_ranges() {
    let acks = Acks::of(vec![7, 3, 4, 5, 9, 4, 10, 11, 1]);
    assert_eq!(acks.ranges, vec![(1, 1), (3, 5), (7, 7), (9, 11)]);
    assert_eq!(acks.count(), 8);
    let read = Acks::decode(&crate::encode(&acks)).expect("read back");
    assert_eq!(read, acks);
    assert_eq!(
        Acks::of(vec![u64::MAX, u64::MAX - 1]).ranges,
        vec![(u64::MAX - 1, u64::MAX)]
    );
    assert_eq!(Acks::of(Vec::new()).count(), 0);

    let backwards = Acks::decode(br#"{"v":1,"ranges":[[5,3]]}"#).expect_err("backwards");
    assert!(backwards.to_string().contains("backwards"), "{backwards}");
    let many: Vec<(u64, u64)> = (0..=crate::acks::MAX_RANGES as u64)
        .map(|n| (2 * n, 2 * n))
        .collect();
    let too_many = serde_json::to_vec(&json!({ "v": 1, "ranges": many })).expect("json");
    let refused = Acks::decode(&too_many).expect_err("too many ranges");
    assert!(refused.to_string().contains("ranges"), "{refused}");
    let newer = Acks::decode(br#"{"v":99,"ranges":[]}"#).expect_err("newer");
    assert!(matches!(newer, ProtocolError::Version { .. }), "{newer}");
    assert!(Acks::decode(b"[1,2]").is_err());
    let resend = Acks::decode(&crate::encode(&Acks::resend())).expect("resend");
    assert!(resend.resend && resend.ranges.is_empty());
    assert!(
        !read.resend,
        "an acknowledgement alone asks for nothing again"
    );
    assert!(!String::from_utf8_lossy(&crate::encode(&acks)).contains("resend"));
}

#[test]
fn a_search_carries_several_embeddings_of_one_model_only() {
    let mut create = create_search();
    let other: Vec<f32> = (0..128).map(|i| i as f32 / 1000.0).collect();
    create.more_embeddings = vec![WireEmbedding::new("dlib-resnet-v1", &other)];
    let payload = RpcRequest::new(Method::CreateSearch(create.clone())).encode();
    let Method::CreateSearch(read) = decoded(&payload).method else {
        panic!("not createSearch");
    };
    assert_eq!(read, create);
    assert_eq!(read.embeddings().count(), 2);
    assert!(read.validated().is_ok());

    // Without more, the field is not written (an older box reads the request unchanged).
    let plain = serde_json::to_value(create_search()).expect("ok");
    assert!(plain.get("more_embeddings").is_none(), "{plain}");

    let mut mixed = create_search();
    mixed.more_embeddings = vec![WireEmbedding::new("arcface-r100", &other)];
    let error = mixed.validated().expect_err("refused").to_string();
    assert!(
        error.contains("more_embeddings") && error.contains("one model"),
        "{error}"
    );

    let mut shorter = create_search();
    shorter.more_embeddings = vec![WireEmbedding::new("dlib-resnet-v1", &other[..64])];
    assert!(shorter.validated().is_err());

    let mut too_many = create_search();
    too_many.more_embeddings = vec![WireEmbedding::new("dlib-resnet-v1", &other); 32];
    let error = too_many.validated().expect_err("refused").to_string();
    assert!(error.contains("at most 32"), "{error}");
}

#[test]
fn upload_grants_name_http_urls_and_are_bounded() {
    use crate::uploads::{UploadGrant, UploadGrants};
    let grant = UploadGrant {
        search_id: Uuid::from_u128(9),
        match_id: 41,
        face_url:
            "http://127.0.0.1:9000/b/t/snapshots/d/2026-12-05/s/41-face.jpg?X-Amz-Signature=ab"
                .to_owned(),
        frame_url: "https://s3.example.com/b/41-frame.jpg?sig=cd".to_owned(),
        expires_at_ms: 1_764_000_000_000,
    };
    let grants = UploadGrants::new(vec![grant.clone()]);
    assert_eq!(UploadGrants::decode(&grants.encode()).expect("ok"), grants);

    let mut local = grant.clone();
    local.face_url = "file:///etc/passwd".to_owned();
    let error = UploadGrants::decode(&UploadGrants::new(vec![local]).encode())
        .expect_err("refused")
        .to_string();
    assert!(error.contains("face_url"), "{error}");

    let many = UploadGrants::new(vec![grant; 257]);
    assert!(UploadGrants::decode(&many.encode()).is_err());
    assert!(UploadGrants::decode(br#"{"v":2,"grants":[]}"#).is_err());
    assert!(UploadGrants::decode(b"not json").is_err());
}

/// The metered fields came later: an event without them (from an older box) reads with
/// none, and one without them is written without the keys (for an older relay).
#[test]
fn search_events_read_without_their_metered_fields() {
    let search = "00000000-0000-0000-0000-000000000007";
    let finished: SearchEvent = decode(
        format!(r#"{{"v":1,"seq":43,"search_id":"{search}","kind":"finished","state":"done"}}"#)
            .as_bytes(),
    )
    .expect("an old finished event");
    let expected = SearchEventBody::Finished {
        state: "done".to_owned(),
        reason: None,
        camera_seconds: None,
        matches: None,
    };
    assert_eq!(finished.body, expected);
    let uploaded: SearchEvent = decode(
        format!(
            r#"{{"v":1,"seq":44,"search_id":"{search}","kind":"snapshots_uploaded","match_id":5}}"#
        )
        .as_bytes(),
    )
    .expect("an old snapshots_uploaded event");
    let expected = SearchEventBody::SnapshotsUploaded {
        match_id: 5,
        bytes: None,
    };
    assert_eq!(uploaded.body, expected);
    for event in [finished, uploaded] {
        let value = serde_json::to_value(&event).expect("JSON");
        let keys = value.as_object().expect("an object");
        assert!(
            !keys.contains_key("camera_seconds")
                && !keys.contains_key("bytes")
                && !keys.contains_key("matches"),
            "{value}"
        );
    }
}

#[test]
fn search_events_carry_the_footage_searched_the_matches_and_the_snapshot_bytes() {
    let search = Uuid::from_u128(7);
    let finished = SearchEvent::new(
        45,
        search,
        SearchEventBody::Finished {
            state: "cancelled".to_owned(),
            reason: None,
            camera_seconds: Some(4 * 3_600),
            matches: Some(3),
        },
    );
    let uploaded = SearchEvent::new(
        46,
        search,
        SearchEventBody::SnapshotsUploaded {
            match_id: 5,
            bytes: Some(123_456),
        },
    );
    for (event, key, quantity) in [
        (finished.clone(), "camera_seconds", 14_400),
        (finished, "matches", 3),
        (uploaded, "bytes", 123_456),
    ] {
        let encoded = crate::encode(&event);
        let value: serde_json::Value = serde_json::from_slice(&encoded).expect("JSON");
        assert_eq!(value[key], quantity, "{value}");
        let back: SearchEvent = decode(&encoded).expect("event");
        assert_eq!(back, event);
    }
}

#[test]
fn snapshot_events_are_tagged_like_the_others() {
    let event = SearchEvent::new(
        12,
        Uuid::from_u128(3),
        SearchEventBody::SnapshotsUploaded {
            match_id: 5,
            bytes: None,
        },
    );
    let value = serde_json::to_value(&event).expect("ok");
    assert_eq!(value["kind"], "snapshots_uploaded");
    assert_eq!(value["match_id"], 5);
    let wanted: SearchEvent = decode(
        br#"{"v":1,"seq":13,"search_id":"00000000-0000-0000-0000-000000000003","kind":"snapshots_wanted","match_id":5}"#,
    )
    .expect("ok");
    assert_eq!(
        wanted.body,
        SearchEventBody::SnapshotsWanted { match_id: 5 }
    );
    assert_eq!(
        Topics::for_box(Uuid::from_u128(1), Uuid::from_u128(2)).parse(&format!(
            "dipper/{}/{}/uploads",
            Uuid::from_u128(1),
            Uuid::from_u128(2)
        )),
        Some(Topic::Uploads)
    );
}
