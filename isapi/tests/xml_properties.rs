//! Properties of the ISAPI XML parsers: no body, however broken, makes a parser panic or
//! accept a document of another type; a response cut off anywhere is rejected rather than
//! read as a shorter one; and every search result, search request and download request the
//! client or the simulator can build reads back unchanged after `to_string`.

use isapi::xml::{
    self, CmSearchDescription, CmSearchResult, DeviceInfo, DeviceTime, DownloadRequest,
    InputProxyChannelList, MatchList, MediaSegmentDescriptor, MetadataList, ResponseStatus,
    SearchMatchItem, SearchProfile, StreamingChannelList, TimeSpan, TimeSpanList, TrackIdList,
    TrackList, UserCheck, XmlError,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde::de::DeserializeOwned;

/// Runs the parser for one document type, keeping only whether it accepted the body.
type Parser = fn(&'static str, &str) -> Result<(), XmlError>;

fn accepts<T: DeserializeOwned>(document: &'static str, body: &str) -> Result<(), XmlError> {
    xml::parse::<T>(document, body).map(drop)
}

/// Every document type with the root element it is parsed under.
const PARSERS: &[(&str, Parser)] = &[
    ("DeviceInfo", accepts::<DeviceInfo>),
    ("Time", accepts::<DeviceTime>),
    ("StreamingChannelList", accepts::<StreamingChannelList>),
    ("InputProxyChannelList", accepts::<InputProxyChannelList>),
    ("TrackList", accepts::<TrackList>),
    ("SearchProfile", accepts::<SearchProfile>),
    ("CMSearchDescription", accepts::<CmSearchDescription>),
    ("CMSearchResult", accepts::<CmSearchResult>),
    ("downloadRequest", accepts::<DownloadRequest>),
    ("ResponseStatus", accepts::<ResponseStatus>),
    ("userCheck", accepts::<UserCheck>),
];

macro_rules! fixture {
    ($name:literal) => {
        ($name, include_str!(concat!("../testdata/", $name)))
    };
}

/// The well-formed fixtures, the seeds for the mutations.
const FIXTURES: &[(&str, &str)] = &[
    fixture!("device_info_camera.xml"),
    fixture!("device_info_nvr.xml"),
    fixture!("time_cst.xml"),
    fixture!("time_dst.xml"),
    fixture!("streaming_channels.xml"),
    fixture!("input_proxy_channels.xml"),
    fixture!("record_tracks.xml"),
    fixture!("search_profile.xml"),
    fixture!("search_description_tracklist.xml"),
    fixture!("search_description_trackidlist.xml"),
    fixture!("search_result_more.xml"),
    fixture!("search_result_ok.xml"),
    fixture!("search_result_no_matches.xml"),
    fixture!("search_result_missing_optional.xml"),
    fixture!("search_result_extra_fields.xml"),
    fixture!("response_status_busy.xml"),
    fixture!("response_status_not_support.xml"),
    fixture!("response_status_bad_auth.xml"),
    fixture!("user_check_locked.xml"),
    fixture!("user_check_attempts_left.xml"),
];

/// Element names the documents use, so generated bodies reach past the root check.
const NAMES: &[&str] = &[
    "CMSearchResult",
    "CMSearchDescription",
    "DeviceInfo",
    "ResponseStatus",
    "userCheck",
    "searchID",
    "responseStatus",
    "responseStatusStrg",
    "numOfMatches",
    "matchList",
    "searchMatchItem",
    "sourceID",
    "trackID",
    "timeSpan",
    "startTime",
    "endTime",
    "mediaSegmentDescriptor",
    "contentType",
    "codecType",
    "playbackURI",
    "trackList",
    "trackIDList",
    "timeSpanList",
    "maxResults",
    "searchResultPostion",
    "metadataList",
    "metadataDescriptor",
    "StreamingChannel",
    "Video",
    "id",
    "enabled",
    "Track",
    "Channel",
    "statusCode",
    "subStatusCode",
    "lockStatus",
    "unlockTime",
    "model",
    "serialNumber",
    "localTime",
];

/// Proptest settings: enough cases to matter, few enough for a debug build to take seconds.
/// Failures are not persisted to files; a failing case is printed, shrunk, in the report.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Feeds `body` to every parser. None may panic (proptest reports a panic as a failure); each
/// may accept the body only if it is a document of its own type, and each refusal names the
/// document and gives a reason.
fn parse_with_every_parser(body: &str) -> Result<(), TestCaseError> {
    for &(document, parser) in PARSERS {
        match parser(document, body) {
            Ok(()) => prop_assert_eq!(
                xml::root_element(body),
                Some(document),
                "{} accepted a body whose root is another element",
                document
            ),
            Err(e) => {
                prop_assert_eq!(e.document, document);
                let message = e.to_string();
                prop_assert!(
                    message.contains(document) && !e.reason.trim().is_empty(),
                    "unhelpful message: {}",
                    message
                );
            }
        }
    }
    Ok(())
}

/// One edit to a fixture's bytes; offsets are taken modulo the length at the time.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(Index),
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    /// Copies a slice of the body over another place, duplicating tags and text.
    Splice {
        from: Index,
        len: u8,
        to: Index,
    },
}

/// Bytes that change the structure of XML when they appear in the wrong place.
const XML_BYTES: &[u8] = b"<>/&;#\"'=!?[]-: \t\r\n0123456789x";

fn any_byte() -> impl Strategy<Value = u8> {
    prop_oneof![any::<u8>(), prop::sample::select(XML_BYTES)]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1..=u8::MAX).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        (any::<Index>(), any_byte()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), any::<u8>(), any::<Index>())
            .prop_map(|(from, len, to)| Mutation::Splice { from, len, to }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        if let Mutation::Insert(_, byte) = mutation {
            bytes.push(*byte);
        }
        return;
    }
    match mutation {
        Mutation::Truncate(at) => bytes.truncate(at.index(bytes.len())),
        Mutation::Flip(at, mask) => {
            let at = at.index(bytes.len());
            bytes[at] ^= mask;
        }
        Mutation::Insert(at, byte) => bytes.insert(at.index(bytes.len() + 1), *byte),
        Mutation::Delete(at) => {
            bytes.remove(at.index(bytes.len()));
        }
        Mutation::Splice { from, len, to } => {
            let start = from.index(bytes.len());
            let end = (start + usize::from(*len)).min(bytes.len());
            let slice = bytes[start..end].to_vec();
            let at = to.index(bytes.len() + 1);
            bytes.splice(at..at, slice);
        }
    }
}

/// A body of known element names, text and entity fragments inside a known root.
fn element_soup() -> impl Strategy<Value = String> {
    let name = || prop::sample::select(NAMES);
    let token = prop_oneof![
        name().prop_map(|n| format!("<{n}>")),
        name().prop_map(|n| format!("</{n}>")),
        name().prop_map(|n| format!("<{n}/>")),
        "[0-9]{1,11}",
        "-[0-9]{1,3}",
        "(true|false|OK|MORE|NO MATCHES|lock|H\\.264)",
        "[ a-z&;#<>\"'=/\r\n]{0,6}",
        Just("<![CDATA[x]]>".to_owned()),
        Just("<!-- c -->".to_owned()),
        Just("&amp;".to_owned()),
    ];
    (
        prop::sample::select(PARSERS.iter().map(|(root, _)| *root).collect::<Vec<_>>()),
        prop::collection::vec(token, 0..48),
        any::<bool>(),
    )
        .prop_map(|(root, tokens, close)| {
            let body = tokens.concat();
            if close {
                format!("<{root} version=\"2.0\">{body}</{root}>")
            } else {
                format!("<{root}>{body}")
            }
        })
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn xml_parsers_survive_arbitrary_strings(body in any::<String>()) {
        parse_with_every_parser(&body)?;
    }

    #[test]
    fn xml_parsers_survive_markup_like_strings(body in "[<>/?!a-zA-Z0-9 \t\r\n=\"'&;#:\\[\\]\u{feff}-]{0,120}") {
        parse_with_every_parser(&body)?;
    }

    #[test]
    fn xml_parsers_survive_element_soup(body in element_soup()) {
        parse_with_every_parser(&body)?;
    }

    #[test]
    fn xml_parsers_survive_mutated_fixtures(
        fixture in prop::sample::select(FIXTURES),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let (_, body) = fixture;
        let mut bytes = body.as_bytes().to_vec();
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        parse_with_every_parser(&String::from_utf8_lossy(&bytes))?;
    }
}

/// Cutting a response anywhere before the end of its root's closing tag is an error, never a
/// shorter document: a search page cut off by a dropped connection must not look complete.
/// Every offset of every fixture, so a regression is found every run.
#[test]
fn xml_truncated_fixtures_are_rejected_at_every_offset() {
    for &(name, body) in FIXTURES {
        let Some(root) = xml::root_element(body) else {
            panic!("{name}: no root element");
        };
        let Some(&(document, parser)) = PARSERS.iter().find(|(document, _)| *document == root)
        else {
            panic!("{name}: no parser for <{root}>");
        };
        let Some(last) = body.rfind('>') else {
            panic!("{name}: no closing tag");
        };
        if let Err(e) = parser(document, body) {
            panic!("{name}: the whole fixture is rejected: {e}");
        }
        for cut in (0..=last).filter(|&cut| body.is_char_boundary(cut)) {
            let head = &body[..cut];
            if parser(document, head).is_ok() {
                panic!(
                    "{name} cut at byte {cut} of {} is accepted as a {document}; it ends {:?}",
                    body.len(),
                    &head[head.len().saturating_sub(40)..]
                );
            }
        }
    }
}

/// Text the simulator or a device could put in a document: URI-like text full of XML's
/// special characters, or any Unicode.
///
/// Carriage return, NEL (U+0085) and LINE SEPARATOR (U+2028) are left out: quick-xml applies
/// XML 1.1 end-of-line normalisation to text content and reads each of them back as `\n`,
/// while its serialiser writes them raw instead of as character references. Devices never put
/// line breaks in playback URIs, IDs or times, so the round trip is only promised without them.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 &<>\"'/:?=._%{}-]{0,60}",
        any::<String>().prop_map(|s| s.replace(['\r', '\u{85}', '\u{2028}'], "")),
    ]
}

fn time_span() -> impl Strategy<Value = TimeSpan> {
    (text(), text()).prop_map(|(start_time, end_time)| TimeSpan {
        start_time,
        end_time,
    })
}

fn match_item() -> impl Strategy<Value = SearchMatchItem> {
    (
        prop::option::of(text()),
        prop::option::of(any::<u32>()),
        time_span(),
        prop::option::of(text()),
        prop::option::of(text()),
        text(),
    )
        .prop_map(
            |(source_id, track_id, time_span, content_type, codec_type, playback_uri)| {
                SearchMatchItem {
                    source_id,
                    track_id,
                    time_span,
                    media_segment_descriptor: MediaSegmentDescriptor {
                        content_type,
                        codec_type,
                        playback_uri,
                    },
                    log_descriptor: None,
                }
            },
        )
}

fn search_result() -> impl Strategy<Value = CmSearchResult> {
    (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(any::<bool>()),
        text(),
        prop::option::of(any::<u32>()),
        prop::option::of(prop::collection::vec(match_item(), 0..5)),
    )
        .prop_map(
            |(version, xmlns, search_id, response_status, status, num_of_matches, items)| {
                CmSearchResult {
                    version,
                    xmlns,
                    search_id,
                    response_status,
                    response_status_strg: status,
                    num_of_matches,
                    match_list: items.map(|items| MatchList { items }),
                }
            },
        )
}

fn track_ids() -> impl Strategy<Value = Option<TrackIdList>> {
    prop::option::of(
        prop::collection::vec(any::<u32>(), 0..4).prop_map(|track_ids| TrackIdList { track_ids }),
    )
}

fn search_description() -> impl Strategy<Value = CmSearchDescription> {
    (
        prop::option::of(text()),
        text(),
        track_ids(),
        track_ids(),
        prop::collection::vec(time_span(), 0..3),
        any::<u32>(),
        prop::option::of(any::<u32>()),
        prop::option::of(prop::collection::vec(text(), 0..3)),
    )
        .prop_map(
            |(xmlns, search_id, track_list, track_id_list, spans, max_results, position, meta)| {
                CmSearchDescription {
                    version: Some("1.0".to_owned()),
                    xmlns,
                    search_id,
                    track_list,
                    track_id_list,
                    time_span_list: TimeSpanList { time_spans: spans },
                    max_results,
                    search_result_position: position,
                    metadata_list: meta.map(|descriptors| MetadataList { descriptors }),
                }
            },
        )
}

/// Serialises `value`, parses it back and requires the same value, showing the text if not.
fn check_round_trip<T>(document: &'static str, value: &T) -> Result<(), TestCaseError>
where
    T: serde::Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = xml::to_string(document, value);
    match xml::parse::<T>(document, &text) {
        Ok(back) => prop_assert_eq!(&back, value, "round trip through\n{}", text),
        Err(e) => return Err(TestCaseError::fail(format!("{e}\nin\n{text}"))),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn xml_search_result_round_trips(result in search_result()) {
        check_round_trip("CMSearchResult", &result)?;
    }

    #[test]
    fn xml_search_description_round_trips(description in search_description()) {
        check_round_trip("CMSearchDescription", &description)?;
    }

    #[test]
    fn xml_download_request_round_trips(
        xmlns in prop::option::of(text()),
        playback_uri in text(),
    ) {
        let request = DownloadRequest { version: Some("1.0".to_owned()), xmlns, playback_uri };
        check_round_trip("downloadRequest", &request)?;
    }
}
