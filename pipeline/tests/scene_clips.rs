//! The scene clips of `scripts/make-scene-clips` against their manifest, `scenes.json`,
//! through the real decoder and the real detector: each clip is 1920x1080 H.264 or H.265
//! without B-frames, about 4 Mbit/s, its keyframes every 2 s exactly where the manifest
//! lists them; the detector finds a face near the manifest's box on most keyframes that
//! show one, by day and under infrared, and no face on the keyframes where nobody is in the
//! scene; and the simulator serves each as a recording of its codec.

mod common;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;

use isapi::sim::{Codec, DeviceConfig, RecordingClip, SimConfig, Simulator};
use pipeline::faces::{BoundingBox, FaceConfig, FaceEngine, RgbView};
use pipeline::keyframes::{ExtractConfig, Summary, extract};
use pipeline::motion::{GateConfig, MotionGates, PixelVerdict};
use serde::Deserialize;

/// `scenes.json`, as far as these tests read it.
#[derive(Debug, Deserialize)]
struct Manifest {
    min_visible_face_px: f32,
    clips: Vec<Clip>,
}

#[derive(Debug, Deserialize)]
struct Clip {
    file: String,
    codec: String,
    seconds: u32,
    fps: u32,
    width: u32,
    height: u32,
    bitrate_kbps: u32,
    keyframe_every_s: u32,
    keyframe_times: Vec<f64>,
    night_from_s: Option<f64>,
    appearances: Vec<Appearance>,
}

/// A person in the scene from `from_s` (inclusive) to `to_s` (exclusive).
#[derive(Debug, Deserialize)]
struct Appearance {
    photo: String,
    from_s: f64,
    to_s: f64,
    /// The face box on every keyframe the person is shown, in or partly out of the frame.
    keyframes: Vec<FaceOnKeyframe>,
    /// The keyframes whose face is wholly inside the frame and big enough to be found.
    visible_keyframes: Vec<usize>,
}

#[derive(Debug, Deserialize)]
struct FaceOnKeyframe {
    keyframe: usize,
    x: f32,
    y: f32,
    width: f32,
    height: f32,
}

impl FaceOnKeyframe {
    fn bbox(&self) -> BoundingBox {
        BoundingBox {
            x: self.x,
            y: self.y,
            width: self.width,
            height: self.height,
        }
    }
}

impl Clip {
    fn at(&self, keyframe: usize) -> String {
        format!(
            "{} keyframe {keyframe} ({} s)",
            self.file, self.keyframe_times[keyframe]
        )
    }

    /// Whether anyone is in the scene at keyframe `keyframe`.
    fn anyone_at(&self, keyframe: usize) -> bool {
        let t = self.keyframe_times[keyframe];
        self.appearances
            .iter()
            .any(|a| (a.from_s..a.to_s).contains(&t))
    }

    /// The face the manifest says is visible on keyframe `keyframe`, if any.
    fn visible_face(&self, keyframe: usize) -> Option<(&Appearance, BoundingBox)> {
        self.appearances.iter().find_map(|a| {
            a.visible_keyframes.contains(&keyframe).then(|| {
                let face = a.keyframes.iter().find(|f| f.keyframe == keyframe);
                let face = face.unwrap_or_else(|| panic!("{}: no box", self.at(keyframe)));
                (a, face.bbox())
            })
        })
    }
}

fn clips_dir() -> PathBuf {
    common::clips_dir("scenes")
}

fn manifest() -> Manifest {
    common::manifest("scenes", "scenes.json")
}

/// Decodes every keyframe of `clip` at the clip's size and hands each, with its index, to
/// `on_keyframe`; returns their times in seconds since the first and the summary.
fn keyframes_of(
    clip: &Clip,
    mut on_keyframe: impl FnMut(usize, RgbView<'_>),
) -> (Vec<f64>, Summary) {
    let path = clips_dir().join(&clip.file);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let config = ExtractConfig {
        width: clip.width,
        height: clip.height,
        recording: clip.file.clone(),
        ..ExtractConfig::default()
    };
    let mut times = Vec::new();
    let summary = extract(file, &config, |keyframe| {
        let frame = RgbView::from_keyframe(&keyframe).expect("keyframe as a frame");
        on_keyframe(times.len(), frame);
        times.push(keyframe.time.as_secs_f64());
        ControlFlow::Continue(())
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (times, summary)
}

/// The video stream as ffprobe reads it: codec name, width, height, `has_b_frames`.
fn probe(path: &Path) -> (String, u32, u32, u32) {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg("stream=codec_name,width,height,has_b_frames")
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("ffprobe (Debian's ffmpeg package): {e}"));
    assert!(output.status.success(), "ffprobe {}", path.display());
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = text.trim().split(',').collect();
    let number = |i: usize| -> u32 {
        fields[i]
            .parse()
            .unwrap_or_else(|e| panic!("{}: ffprobe said {text:?}: {e}", path.display()))
    };
    (fields[0].to_owned(), number(1), number(2), number(3))
}

#[test]
fn clips_are_1080p_gop_50_and_keyframes_fall_where_the_manifest_says() {
    let manifest = manifest();
    let codecs: Vec<&str> = manifest.clips.iter().map(|c| c.codec.as_str()).collect();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"h265"),
        "both codecs: {codecs:?}"
    );
    assert!(
        manifest.clips.iter().any(|c| c.night_from_s.is_some()),
        "a clip with a night segment"
    );
    let mut face_heights = Vec::new();
    for clip in &manifest.clips {
        let path = clips_dir().join(&clip.file);
        let (codec, width, height, b_frames) = probe(&path);
        let expected_codec = if clip.codec == "h265" { "hevc" } else { "h264" };
        assert_eq!(
            (codec.as_str(), width, height, b_frames),
            (expected_codec, 1920, 1080, 0),
            "{}: codec, size, B-frames",
            clip.file
        );
        assert_eq!((clip.width, clip.height), (1920, 1080), "{}", clip.file);
        // The whole program stream against the nominal video rate: within 25 %.
        let bytes = std::fs::metadata(&path).expect("clip size").len();
        let kbps = bytes as f64 * 8.0 / 1000.0 / f64::from(clip.seconds);
        let nominal = f64::from(clip.bitrate_kbps);
        assert!(
            (0.75 * nominal..1.25 * nominal).contains(&kbps),
            "{}: {kbps:.0} kbit/s, nominal {nominal}",
            clip.file
        );

        let (times, summary) = keyframes_of(clip, |_, _| {});
        let expected = (clip.seconds / clip.keyframe_every_s) as usize;
        assert_eq!(times.len(), expected, "{}: keyframes", clip.file);
        assert_eq!(
            clip.keyframe_times.len(),
            expected,
            "{}: manifest",
            clip.file
        );
        for (k, (decoded, listed)) in times.iter().zip(&clip.keyframe_times).enumerate() {
            assert!(
                (decoded - listed).abs() < 0.001,
                "{}: decoded at {decoded} s, listed at {listed} s",
                clip.at(k)
            );
        }
        // Every other frame is a P-frame the extractor skipped: a GOP of exactly 50.
        let frames = u64::from(clip.seconds * clip.fps);
        assert_eq!(
            (summary.keyframes, summary.packets_skipped),
            (expected as u64, frames - expected as u64),
            "{}: keyframes and skipped frames",
            clip.file
        );

        // Someone in the scene some of the time, never everyone at once, each seen.
        let present: f64 = clip.appearances.iter().map(|a| a.to_s - a.from_s).sum();
        let share = present / f64::from(clip.seconds);
        assert!(
            (0.05..0.3).contains(&share),
            "{}: someone in {share:.2} of the time",
            clip.file
        );
        for a in &clip.appearances {
            assert!(
                !a.visible_keyframes.is_empty(),
                "{} {}: on no keyframe",
                clip.file,
                a.photo
            );
            for face in &a.keyframes {
                let t = clip.keyframe_times[face.keyframe];
                assert!(
                    (a.from_s..a.to_s).contains(&t),
                    "{}",
                    clip.at(face.keyframe)
                );
                if a.visible_keyframes.contains(&face.keyframe) {
                    face_heights.push(face.height);
                }
            }
        }
    }
    let smallest = face_heights.iter().copied().fold(f32::MAX, f32::min);
    let largest = face_heights.iter().copied().fold(0.0, f32::max);
    assert!(
        smallest >= manifest.min_visible_face_px && (100.0..=160.0).contains(&largest),
        "visible faces from {smallest} to {largest} px high"
    );
}

#[tokio::test]
async fn the_simulator_serves_each_clip_as_a_recording() {
    let manifest = manifest();
    // An NVR of one-minute recordings, H.264 on track 101 and H.265 on 201; recording `i`
    // of its codec's track is clip `i` (one repetition of a 60 s clip).
    let mut config = DeviceConfig::nvr("admin", "secret", 2);
    config.codec = Codec::Mixed;
    config.days = 1;
    config.recording_minutes = 1;
    let placed: Vec<(u32, u64, &Clip)> = manifest
        .clips
        .iter()
        .enumerate()
        .map(|(i, clip)| {
            let track = if clip.codec == "h265" { 201 } else { 101 };
            (track, i as u64, clip)
        })
        .collect();
    config.recording_clips = placed
        .iter()
        .map(|(track, index, clip)| RecordingClip {
            track: *track,
            index: *index,
            path: clips_dir().join(&clip.file),
        })
        .collect();
    let sim = Simulator::start(SimConfig::new(vec![config]))
        .await
        .unwrap_or_else(|e| panic!("the simulator refuses the scene clips: {e}"));
    for (track, index, clip) in &placed {
        let uri = sim
            .playback_uri(0, *track, *index as usize)
            .unwrap_or_else(|| panic!("{}: no recording {track}/{index}", clip.file));
        let checksum = sim
            .checksum(0, &uri)
            .unwrap_or_else(|| panic!("{}: no checksum of {uri}", clip.file));
        let bytes = std::fs::metadata(clips_dir().join(&clip.file))
            .expect("clip size")
            .len();
        // The clip once, and the 256-byte mark naming the recording.
        assert_eq!(checksum.bytes, bytes + 256, "{}: {uri}", clip.file);
    }
    sim.shutdown().await;
}

/// What the detector made of one keyframe that the test looked at.
enum Verdict {
    /// A face the manifest places here: found near its box, or not (with what was found).
    Face {
        photo: String,
        found: bool,
        detections: Vec<BoundingBox>,
    },
    /// Nobody in the scene: what was found (should be nothing).
    Empty { detections: Vec<BoundingBox> },
}

/// Whether `found` is the face the manifest put at `expected`: centres within half a face
/// of each other, heights within a factor of 1.6.
fn near(found: &BoundingBox, expected: &BoundingBox) -> bool {
    let distance = found.centre().distance(expected.centre());
    let ratio = found.height / expected.height;
    distance < 0.5 * expected.height && (1.0 / 1.6..1.6).contains(&ratio)
}

#[test]
fn faces_are_found_near_the_manifest_boxes_and_not_in_the_empty_street() {
    let manifest = manifest();
    let engine = FaceEngine::new(FaceConfig::default()).expect("models load");
    // A clip per thread (the engine is shared): detection at 1080p dominates the time.
    let per_clip: Vec<Vec<(usize, Verdict)>> = std::thread::scope(|scope| {
        let threads: Vec<_> = manifest
            .clips
            .iter()
            .map(|clip| {
                let engine = &engine;
                scope.spawn(move || {
                    let mut verdicts = Vec::new();
                    let mut empty_seen = 0;
                    keyframes_of(clip, |k, frame| {
                        let visible = clip.visible_face(k);
                        // Every keyframe with a visible face; every third with nobody in
                        // the scene (by day and by night); none with a face half out.
                        let empty = visible.is_none() && !clip.anyone_at(k);
                        if empty {
                            empty_seen += 1;
                        }
                        if visible.is_none() && !(empty && empty_seen % 3 == 1) {
                            return;
                        }
                        let detections: Vec<BoundingBox> = engine
                            .detect(frame)
                            .unwrap_or_else(|e| panic!("{}: {e}", clip.at(k)))
                            .iter()
                            .map(|d| d.bbox)
                            .collect();
                        let verdict = match visible {
                            Some((appearance, expected)) => Verdict::Face {
                                photo: appearance.photo.clone(),
                                found: detections.iter().any(|d| near(d, &expected)),
                                detections,
                            },
                            None => Verdict::Empty { detections },
                        };
                        verdicts.push((k, verdict));
                    });
                    verdicts
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().expect("clip thread"))
            .collect()
    });

    let (mut faces, mut found, mut empties, mut night_faces, mut night_found) = (0, 0, 0, 0, 0);
    let mut report = Vec::new();
    for (clip, verdicts) in manifest.clips.iter().zip(&per_clip) {
        for (k, verdict) in verdicts {
            let at_night = clip
                .night_from_s
                .is_some_and(|night| clip.keyframe_times[*k] >= night);
            match verdict {
                Verdict::Face {
                    photo,
                    found: hit,
                    detections,
                } => {
                    let outcome = if *hit { "found" } else { "MISSED" };
                    report.push(format!(
                        "{}: {photo} {outcome}, detections {detections:?}",
                        clip.at(*k)
                    ));
                    faces += 1;
                    found += usize::from(*hit);
                    if at_night {
                        night_faces += 1;
                        night_found += usize::from(*hit);
                    }
                }
                Verdict::Empty { detections } => {
                    report.push(format!("{}: empty, detections {detections:?}", clip.at(*k)));
                    empties += 1;
                    assert!(
                        detections.is_empty(),
                        "{}: faces in the empty street: {detections:?}",
                        clip.at(*k)
                    );
                }
            }
        }
    }
    let report = report.join("\n");
    assert!(
        faces >= 10 && empties >= 10,
        "{faces} faces, {empties} empty:\n{report}"
    );
    assert!(
        found * 4 >= faces * 3,
        "found {found} of {faces} faces:\n{report}"
    );
    assert!(
        night_faces >= 2 && night_found * 2 >= night_faces,
        "found {night_found} of {night_faces} faces at night:\n{report}"
    );
}

/// What the gates did with each keyframe of a clip (by its index in the manifest).
#[derive(Debug, Clone, PartialEq)]
enum Gated {
    /// Never decoded (the GOP gate), or decoded and found static (the pixel gate).
    Skipped,
    /// Sent to the detector: these regions of the keyframe (the whole frame is one).
    Detected(Vec<BoundingBox>),
}

/// Runs `clip` through `gates` at 1280x720 (the box's keyframe size), as a recording that
/// starts `start_s` seconds into the camera's day; what happened to each keyframe, at the
/// clip's 1920x1080 scale.
fn gated_run(clip: &Clip, gates: &MotionGates, start_s: i64) -> Vec<Gated> {
    let path = clips_dir().join(&clip.file);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let config = ExtractConfig {
        width: 1280,
        height: 720,
        recording: clip.file.clone(),
        start: Some(jiff::Timestamp::from_second(1_700_000_000 + start_s).expect("time")),
        gates: Some(gates.clone()),
        ..ExtractConfig::default()
    };
    let scale = clip.width as f32 / 1280.0;
    let mut gated = vec![Gated::Skipped; clip.keyframe_times.len()];
    extract(file, &config, |keyframe| {
        let t = keyframe.time.as_secs_f64();
        let k = clip
            .keyframe_times
            .iter()
            .position(|listed| (listed - t).abs() < 0.5)
            .unwrap_or_else(|| panic!("{}: a keyframe at {t} s", clip.file));
        let whole = BoundingBox {
            x: 0.0,
            y: 0.0,
            width: clip.width as f32,
            height: clip.height as f32,
        };
        gated[k] = match gates.judge_keyframe(&keyframe) {
            PixelVerdict::Static => Gated::Skipped,
            PixelVerdict::Whole(_) => Gated::Detected(vec![whole]),
            PixelVerdict::Regions(regions) => Gated::Detected(
                regions
                    .iter()
                    .map(|r| BoundingBox {
                        x: r.x as f32 * scale,
                        y: r.y as f32 * scale,
                        width: r.width as f32 * scale,
                        height: r.height as f32 * scale,
                    })
                    .collect(),
            ),
        };
        ControlFlow::Continue(())
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    gated
}

/// Whether `face` lies wholly inside one of the regions sent to the detector.
fn kept(gated: &Gated, face: &BoundingBox) -> bool {
    let Gated::Detected(regions) = gated else {
        return false;
    };
    regions.iter().any(|r| {
        r.x <= face.x
            && r.y <= face.y
            && r.x + r.width >= face.x + face.width
            && r.y + r.height >= face.y + face.height
    })
}

#[test]
fn the_motion_gates_keep_the_keyframes_that_show_people_and_skip_most_empty_ones() {
    let manifest = manifest();
    let (mut shown, mut shown_kept, mut appearances, mut appearances_kept) = (0, 0, 0, 0);
    let (mut empty, mut empty_skipped, mut total, mut decoded) = (0, 0, 0, 0);
    let mut report = Vec::new();
    for clip in &manifest.clips {
        // The camera's previous recording (the same street) teaches the gates its baseline;
        // the next one is measured.
        let gates = MotionGates::new(GateConfig::default());
        gated_run(clip, &gates, 0);
        let before = gates.counters();
        let gated = gated_run(clip, &gates, i64::from(clip.seconds));
        let after = gates.counters();
        total += after.keyframes_total - before.keyframes_total;
        decoded += after.keyframes_decoded - before.keyframes_decoded;
        for a in &clip.appearances {
            appearances += 1;
            let mut any = false;
            // The keyframes where the face is wholly in the frame and big enough to find.
            let visible = a
                .keyframes
                .iter()
                .filter(|f| a.visible_keyframes.contains(&f.keyframe));
            for face in visible {
                let hit = kept(&gated[face.keyframe], &face.bbox());
                shown += 1;
                shown_kept += usize::from(hit);
                any |= hit;
                if !hit {
                    report.push(format!(
                        "{}: {} not kept: {:?}",
                        clip.at(face.keyframe),
                        a.photo,
                        gated[face.keyframe]
                    ));
                }
            }
            appearances_kept += usize::from(any);
        }
        for (k, verdict) in gated.iter().enumerate() {
            if !clip.anyone_at(k) {
                empty += 1;
                empty_skipped += usize::from(*verdict == Gated::Skipped);
            }
        }
        report.push(format!(
            "{}: {:?}, {:?}",
            clip.file,
            gates.status(),
            gates.counters()
        ));
    }
    let report = report.join("\n");
    assert_eq!(appearances_kept, appearances, "every appearance:\n{report}");
    assert!(
        shown >= 15 && shown_kept * 100 >= shown * 95,
        "{shown_kept} of {shown} keyframes with a person:\n{report}"
    );
    assert!(
        empty >= 50 && empty_skipped * 2 > empty,
        "{empty_skipped} of {empty} empty keyframes skipped:\n{report}"
    );
    assert!(decoded < total, "{decoded} of {total} decoded:\n{report}");
}
