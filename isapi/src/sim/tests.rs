//! Unit tests of the simulator parts that need no socket: clock fields, clip scanning,
//! recording bodies, the recording grid and Digest verification.

use std::{net::IpAddr, sync::Arc, time::Duration};

use jiff::civil::date;
use proptest::prelude::*;

use super::{
    Codec, Container, DeviceConfig, Limits,
    auth::{DigestAuth, parse_authorization, response_digest},
    body::{MARK_LEN, RecordingBody},
    catalog::{Catalog, RecordingId},
    clip::{Clip, ClipFormat, VideoCodec},
    default_clips_dir,
    mpeg_ps::{self, CLOCK_WRAP, ClockLayout},
};

fn clip(codec: VideoCodec, container: Container) -> Arc<Clip> {
    match Clip::load(&default_clips_dir(), codec, container) {
        Ok(clip) => Arc::new(clip),
        Err(e) => panic!("{e}"),
    }
}

fn layout(clip: &Clip) -> &mpeg_ps::PsLayout {
    match &clip.format {
        ClipFormat::Ps(layout) => layout,
        ClipFormat::Mp4 => panic!("{} is not a program stream", clip.path.display()),
    }
}

proptest! {
    #[test]
    fn clock_fields_keep_their_other_bits(bytes in any::<[u8; 5]>(), value in 0..CLOCK_WRAP * 2) {
        for (layout, keep) in [
            (ClockLayout::Pts, [0xF1u8, 0, 0x01, 0, 0x01]),
            (ClockLayout::Mpeg2Scr, [0xC4, 0, 0x04, 0, 0x07]),
        ] {
            let mut field = bytes;
            mpeg_ps::write_clock(&mut field, layout, value);
            prop_assert_eq!(mpeg_ps::read_clock(&field, layout), value % CLOCK_WRAP);
            for i in 0..5 {
                prop_assert_eq!(field[i] & keep[i], bytes[i] & keep[i], "byte {} of {:?}", i, layout);
            }
        }
    }
}

#[test]
fn clips_are_scanned_as_ffmpeg_wrote_them() {
    for codec in [VideoCodec::H264, VideoCodec::H265] {
        let clip = clip(codec, Container::Ps);
        let layout = layout(&clip);
        // 10 s at 25 fps: PTS 0.5 s .. 10.46 s, plus one frame.
        assert_eq!(layout.duration, 10 * 90_000, "{codec:?}");
        assert!(layout.data_is_consistent(&clip.data), "{codec:?}");
        // MPEG-2 pack header (14 bytes, no stuffing) then the system header (6 + 9 bytes).
        assert_eq!(layout.first_packet_at, 29, "{codec:?}");
        assert!(
            layout.clocks.len() > 400,
            "{codec:?}: {}",
            layout.clocks.len()
        );
    }
}

impl mpeg_ps::PsLayout {
    /// Every clock the layout lists reads back as the value recorded.
    fn data_is_consistent(&self, data: &[u8]) -> bool {
        self.clocks.iter().all(|c| {
            let mut field = [0; 5];
            field.copy_from_slice(&data[c.offset..c.offset + 5]);
            mpeg_ps::read_clock(&field, c.layout) == c.value
        })
    }
}

#[test]
fn unreadable_streams_are_refused_with_the_offset() {
    let clip = clip(VideoCodec::H264, Container::Ps);
    let mut data = clip.data.to_vec();
    assert_eq!(
        mpeg_ps::scan(b"not video")
            .map(|_| ())
            .map_err(|e| e.offset),
        Err(0)
    );
    data[2048] = 0x42;
    let err = mpeg_ps::scan(&data)
        .map(|_| ())
        .expect_err("should be refused");
    assert_eq!(err.offset, 2048, "{err:?}");
}

/// The body as the module doc describes it, built the slow and obvious way.
fn reference_body(clip: &Clip, tag: &str, reps: u64) -> Vec<u8> {
    let layout = layout(clip);
    let mut out = Vec::new();
    for rep in 0..reps {
        let mut copy = clip.data[..layout.content_len].to_vec();
        for c in &layout.clocks {
            let mut field = [0; 5];
            field.copy_from_slice(&copy[c.offset..c.offset + 5]);
            mpeg_ps::write_clock(&mut field, c.layout, c.value + rep * layout.duration);
            copy[c.offset..c.offset + 5].copy_from_slice(&field);
        }
        let padding = mpeg_ps::padding_packet(&format!("{tag} rep={rep}"), MARK_LEN);
        copy.splice(layout.first_packet_at..layout.first_packet_at, padding);
        out.extend_from_slice(&copy);
    }
    if layout.has_end_code {
        out.extend_from_slice(&[0, 0, 1, 0xB9]);
    }
    out
}

fn read_all(mut body: RecordingBody, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(bytes) = body.next_chunk(chunk) {
        assert!(!bytes.is_empty() && bytes.len() <= chunk);
        out.extend_from_slice(&bytes);
    }
    out
}

#[test]
fn bodies_are_the_clip_repeated_with_continuous_clocks() {
    let clip = clip(VideoCodec::H264, Container::Ps);
    let tag = "dipper-sim device=X track=101 start=20261124T100000";
    let want = reference_body(&clip, tag, 6);
    // Chunk sizes that split clock fields and marks anywhere.
    for chunk in [997, 4096, 64 * 1024, 1 << 20] {
        let body = RecordingBody::new(Arc::clone(&clip), tag.to_owned(), 60);
        assert_eq!(body.len(), want.len() as u64);
        let got = read_all(body, chunk);
        assert!(got == want, "chunk {chunk}: bodies differ");
    }
    let rescanned = mpeg_ps::scan(&want).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(rescanned.duration, 60 * 90_000);
    let sum = RecordingBody::new(clip, tag.to_owned(), 60).checksum();
    assert_eq!(sum.bytes, want.len() as u64);
    assert_eq!(sum.crc32, crc32fast::hash(&want));
}

#[test]
fn a_clip_ending_with_a_program_end_code_ends_the_recording_once() {
    let real = clip(VideoCodec::H264, Container::Ps);
    let mut data = real.data.to_vec();
    data.extend_from_slice(&[0, 0, 1, 0xB9]);
    let layout = mpeg_ps::scan(&data).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(layout.has_end_code && layout.content_len == real.data.len());
    let with_end = Arc::new(Clip {
        path: "h264-with-end.ps".into(),
        data: data.into(),
        format: ClipFormat::Ps(layout),
        repetition_crcs: std::sync::Mutex::default(),
    });
    let body = RecordingBody::new(with_end, "dipper-sim".to_owned(), 30);
    assert_eq!(body.len(), 3 * (real.data.len() + MARK_LEN) as u64 + 4);
    let quick = body.checksum();
    let bytes = read_all(body, 64 * 1024);
    assert!(bytes.ends_with(&[0, 0, 1, 0xB9]));
    assert_eq!(
        bytes.windows(4).filter(|w| *w == [0, 0, 1, 0xB9]).count(),
        1
    );
    assert_eq!(quick.crc32, crc32fast::hash(&bytes));
}

#[test]
fn checksums_without_reading_equal_checksums_by_reading() {
    for (codec, container, seconds) in [
        (VideoCodec::H264, Container::Ps, 3600),
        (VideoCodec::H265, Container::Ps, 125),
        (VideoCodec::H264, Container::Mp4, 60),
    ] {
        for tag in [
            "dipper-sim device=A track=101 start=1",
            "dipper-sim device=B",
        ] {
            let body = RecordingBody::new(clip(codec, container), tag.to_owned(), seconds);
            let quick = body.checksum();
            assert_eq!(
                quick,
                body.checksum_by_reading(),
                "{codec:?} {container:?} {seconds} s"
            );
        }
    }
}

#[test]
fn a_face_clip_makes_bodies_as_the_shared_clips_do() {
    let path = default_clips_dir().join("faces/cam1_h264.ps");
    let face = Arc::new(Clip::load_ps(&path).unwrap_or_else(|e| panic!("{e}")));
    // 60 s at 25 fps: exactly one repetition per minute.
    assert_eq!(layout(&face).duration, 60 * 90_000);
    let tag = "dipper-sim device=X track=101 start=20261124T100000";
    let want = reference_body(&face, tag, 2);
    let body = RecordingBody::new(Arc::clone(&face), tag.to_owned(), 120);
    assert_eq!(body.len(), want.len() as u64);
    assert!(read_all(body, 64 * 1024) == want, "bodies differ");
    let rescanned = mpeg_ps::scan(&want).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(rescanned.duration, 120 * 90_000);
    let sum = RecordingBody::new(face, tag.to_owned(), 120).checksum();
    assert_eq!(
        (sum.bytes, sum.crc32),
        (want.len() as u64, crc32fast::hash(&want))
    );
}

#[test]
fn clip_codecs_are_read_from_their_parameter_sets() {
    for (codec, clip) in [
        (VideoCodec::H264, clip(VideoCodec::H264, Container::Ps)),
        (VideoCodec::H265, clip(VideoCodec::H265, Container::Ps)),
    ] {
        assert_eq!(clip.video_codec(), Some(codec), "{}", clip.path.display());
    }
    for (codec, name) in [
        (VideoCodec::H264, "faces/cam1_h264.ps"),
        (VideoCodec::H265, "faces/cam2_h265.ps"),
    ] {
        let clip = Clip::load_ps(&default_clips_dir().join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(clip.video_codec(), Some(codec), "{name}");
    }
    let no_video = Clip {
        path: "padding-only.ps".into(),
        data: mpeg_ps::padding_packet("dipper-sim", MARK_LEN).into(),
        format: ClipFormat::Mp4,
        repetition_crcs: std::sync::Mutex::default(),
    };
    assert_eq!(no_video.video_codec(), None);
}

#[test]
fn mp4_bodies_are_the_clip_and_a_free_box() {
    let clip = clip(VideoCodec::H264, Container::Mp4);
    let body = RecordingBody::new(Arc::clone(&clip), "dipper-sim x".to_owned(), 3600);
    assert_eq!(body.len(), (clip.data.len() + MARK_LEN) as u64);
    let got = read_all(body, 64 * 1024);
    assert_eq!(&got[..clip.data.len()], &clip.data[..]);
    let free = &got[clip.data.len()..];
    assert_eq!(&free[..4], &(MARK_LEN as u32).to_be_bytes());
    assert_eq!(&free[4..8], b"free");
    assert!(free[8..].starts_with(b"dipper-sim x rep=0"));
}

fn catalog(days: u32, minutes: u32) -> Catalog {
    let mut config = DeviceConfig::nvr("admin", "pw", 2);
    config.days = days;
    config.recording_minutes = minutes;
    config.codec = Codec::Mixed;
    // 2026-11-24 12:34 at UTC+8.
    config.end = Some(
        date(2026, 11, 24)
            .at(4, 34, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap_or_else(|e| panic!("{e}"))
            .timestamp(),
    );
    let h264 = clip(VideoCodec::H264, Container::Ps);
    let h265 = clip(VideoCodec::H265, Container::Ps);
    let clip_for = |codec| {
        Some(match codec {
            VideoCodec::H264 => Arc::clone(&h264),
            VideoCodec::H265 => Arc::clone(&h265),
        })
    };
    Catalog::new(
        &config,
        clip_for,
        |_| None,
        "127.0.0.1:8000".to_owned(),
        jiff::Timestamp::now(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn recordings_are_aligned_on_the_wall_clock() {
    let catalog = catalog(1, 60);
    assert_eq!(catalog.count(), 24);
    let at = |h, m| date(2026, 11, 24).at(h, m, 0, 0);
    // Ends at 12:00 local (12:34 rounded down), starts a day before.
    assert_eq!(catalog.span(23), (at(11, 0), at(12, 0)));
    assert_eq!(catalog.span(0).0, date(2026, 11, 23).at(12, 0, 0, 0));
    let check = |start, end, want: std::ops::Range<u64>| {
        assert_eq!(
            catalog.overlapping(start, end),
            Ok(want),
            "{start} .. {end}"
        );
    };
    check(at(10, 0), at(11, 0), 22..23);
    check(at(10, 30), at(11, 0), 22..23);
    check(
        at(10, 30),
        at(11, 0).saturating_add(jiff::SignedDuration::from_secs(1)),
        22..24,
    );
    check(at(11, 59), at(23, 0), 23..24);
    check(at(12, 0), at(23, 0), 24..24);
    check(
        date(2000, 1, 1).at(0, 0, 0, 0),
        date(2100, 1, 1).at(0, 0, 0, 0),
        0..24,
    );
    assert!(
        catalog
            .overlapping(at(11, 0), at(10, 0))
            .is_ok_and(|r| r.is_empty())
    );
    assert_eq!(catalog.tracks()[1].codec, VideoCodec::H265);
}

#[test]
fn playback_uris_name_one_recording() {
    let catalog = catalog(1, 60);
    let id = RecordingId {
        track: 201,
        index: 22,
    };
    let uri = catalog.playback_uri(id).unwrap_or_default();
    let size = catalog.body(id).map(|b| b.len()).unwrap_or_default();
    assert_eq!(
        uri,
        format!(
            "rtsp://127.0.0.1:8000/Streaming/tracks/201/?starttime=20261124T100000Z\
             &endtime=20261124T110000Z&name=ch02_0000000022&size={size}"
        )
    );
    assert_eq!(catalog.find(&uri), Some(id));
    assert_eq!(
        catalog.find("rtsp://10.0.0.9/Streaming/tracks/201?starttime=20261124T100000Z&endtime=20261124T110000Z"),
        Some(id),
        "host, name and size may differ or be missing"
    );
    for bad in [
        uri.replace("size=", "size=1"),
        uri.replace("ch02_", "ch01_"),
        uri.replace("tracks/201", "tracks/301"),
        uri.replace("T100000Z", "T100100Z"),
        uri.replace("endtime=20261124T110000Z", "endtime=20261124T120000Z"),
        uri.replace("20261124T100000Z", "20261124T120000Z"),
        "rtsp://127.0.0.1/Streaming/tracks/201/".to_owned(),
    ] {
        assert_eq!(catalog.find(&bad), None, "{bad}");
    }
}

#[test]
fn digest_responses_follow_rfc_2617() {
    // The example of RFC 2617 section 3.5.
    let response = response_digest(
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        "GET",
        "/dir/index.html",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "00000001",
        "0a4f113b",
    );
    assert_eq!(response, "6629fae49393a05397450978507c4ef1");
    let header = r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    let parsed = parse_authorization(header).unwrap_or_else(|| panic!("unparsed"));
    assert_eq!(parsed.username, "Mufasa");
    assert_eq!(parsed.uri, "/dir/index.html");
    assert_eq!(parsed.qop.as_deref(), Some("auth"));
    assert_eq!(parsed.nc.as_deref(), Some("00000001"));
    assert!(parse_authorization("Basic YWRtaW46cHc=").is_none());
    assert!(parse_authorization(r#"Digest username="a""#).is_none());
}

/// A client side of [`DigestAuth`]: answers a challenge header.
fn answer(challenge: &str, user: &str, password: &str, uri: &str, nc: u32) -> String {
    let field = |name: &str| {
        let start = challenge
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("{name}"))
            + name.len()
            + 2;
        challenge[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let (realm, nonce) = (field("realm"), field("nonce"));
    let nc = format!("{nc:08x}");
    let response = response_digest(user, &realm, password, "GET", uri, &nonce, &nc, "c0ffee");
    format!(
        r#"Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", qop=auth, nc={nc}, cnonce="c0ffee", response="{response}""#
    )
}

#[test]
fn failed_logins_lock_the_address_and_success_resets_them() {
    let auth = DigestAuth::new(
        "IP Camera(X)".to_owned(),
        "admin".to_owned(),
        "pw".to_owned(),
    );
    let limits = Limits {
        lockout_after: 3,
        lockout: Duration::from_secs(60),
        ..Limits::default()
    };
    let client: IpAddr = [127, 0, 0, 1].into();
    let other: IpAddr = [127, 0, 0, 2].into();
    let uri = "/ISAPI/System/deviceInfo";
    let check = |ip, header: Option<&str>| auth.check(ip, "GET", uri, header, &limits);
    let first = check(client, None).expect_err("should be refused");
    assert!(!first.failed_login);
    assert_eq!(first.user_check.retry_login_time, Some(3));
    let challenge = first.challenge.clone();

    let wrong = check(client, Some(&answer(&challenge, "admin", "bad", uri, 1)))
        .expect_err("should be refused");
    assert!(wrong.failed_login);
    assert_eq!(wrong.user_check.retry_login_time, Some(2));
    assert_eq!(
        check(client, Some(&answer(&challenge, "admin", "pw", uri, 2))),
        Ok(())
    );
    // Success cleared the count.
    let wrong = check(client, Some(&answer(&challenge, "root", "pw", uri, 3)))
        .expect_err("should be refused");
    assert_eq!(wrong.user_check.retry_login_time, Some(2));
    let _ = check(client, Some(&answer(&challenge, "admin", "bad", uri, 4)));
    let locked = check(client, Some(&answer(&challenge, "admin", "bad", uri, 5)))
        .expect_err("should be refused");
    assert!(locked.user_check.is_locked());
    assert_eq!(locked.user_check.unlock_time, Some(60));
    let still = check(client, Some(&answer(&challenge, "admin", "pw", uri, 6)))
        .expect_err("should be refused");
    assert!(still.user_check.is_locked() && !still.failed_login);
    assert_eq!(
        check(other, Some(&answer(&challenge, "admin", "pw", uri, 7))),
        Ok(()),
        "another address is not locked"
    );
}

#[test]
fn replayed_and_expired_nonces_are_stale() {
    let auth = DigestAuth::new("r".to_owned(), "admin".to_owned(), "pw".to_owned());
    let mut limits = Limits::default();
    let client: IpAddr = [127, 0, 0, 1].into();
    let uri = "/a?b=c";
    let challenge = auth
        .check(client, "GET", uri, None, &limits)
        .expect_err("should be refused")
        .challenge;
    assert!(!challenge.contains("stale"));
    let header = answer(&challenge, "admin", "pw", uri, 1);
    assert_eq!(
        auth.check(client, "GET", uri, Some(&header), &limits),
        Ok(())
    );
    let replay = auth
        .check(client, "GET", uri, Some(&header), &limits)
        .expect_err("should be refused");
    assert!(replay.challenge.ends_with("stale=TRUE") && !replay.failed_login);
    let other_uri = auth.check(
        client,
        "GET",
        "/other",
        Some(&answer(&challenge, "admin", "pw", uri, 2)),
        &limits,
    );
    assert!(other_uri.is_err_and(|r| !r.failed_login && !r.challenge.contains("stale")));
    limits.nonce_lifetime = Duration::ZERO;
    let expired = auth
        .check(
            client,
            "GET",
            uri,
            Some(&answer(&challenge, "admin", "pw", uri, 3)),
            &limits,
        )
        .expect_err("should be refused");
    assert!(expired.challenge.ends_with("stale=TRUE") && !expired.failed_login);
    let unknown = answer(
        &challenge.replace("nonce=\"", "nonce=\"00"),
        "admin",
        "pw",
        uri,
        1,
    );
    let unknown = auth
        .check(client, "GET", uri, Some(&unknown), &Limits::default())
        .expect_err("should be refused");
    assert!(unknown.challenge.ends_with("stale=TRUE"));
}
