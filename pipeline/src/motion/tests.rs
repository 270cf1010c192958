//! The gates on made-up input: GOPs of known packet sizes, frames of known pixels. The real
//! footage is in `tests/motion_gates.rs`.

use std::time::Duration;

use super::*;

/// A small deterministic noise source (xorshift).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 10_000) as f32 / 10_000.0
    }
}

/// A GOP of 50 frames: sizes ramping up after the keyframe, as the scene clips' encoder
/// makes them, with 5 % noise; `moving` adds the bits of someone walking to the first 20.
fn gop(noise: &mut Noise, moving: bool) -> GopPackets {
    let sizes = (0..49)
        .map(|i| {
            let ramp = 2000.0 + 13000.0 * (i as f32 / 8.0).min(1.0);
            let walk = if moving && i < 20 { 3000.0 } else { 0.0 };
            (ramp * (0.95 + 0.1 * noise.next()) + walk) as u32
        })
        .collect();
    GopPackets {
        key_size: 300_000,
        sizes,
        reordered: false,
        too_long: false,
        complete: true,
    }
}

fn config() -> GateConfig {
    GateConfig {
        audit_every: 0,
        ..GateConfig::default()
    }
}

/// Judges `moving` GOPs 2 s apart; returns the verdicts.
fn run(gates: &MotionGates, moving: &[bool], seed: u64) -> Vec<GopVerdict> {
    let mut noise = Noise(seed);
    moving
        .iter()
        .enumerate()
        .map(|(i, &m)| gates.judge_gop(&gop(&mut noise, m), Some(i as i64 * 2000)))
        .collect()
}

#[test]
fn the_gop_gate_skips_static_gops_and_decodes_around_motion() {
    let gates = MotionGates::new(config());
    let mut moving = vec![false; 40];
    moving[20] = true;
    let verdicts = run(&gates, &moving, 7);
    let warm = config().warm_up_gops as usize;
    assert!(
        verdicts[..warm]
            .iter()
            .all(|v| *v == GopVerdict::Decode(DecodeReason::WarmUp))
    );
    // The keyframe opening the moving GOP and the one after it.
    assert_eq!(
        verdicts[20],
        GopVerdict::Decode(DecodeReason::Motion),
        "{verdicts:?}"
    );
    assert_eq!(
        verdicts[21],
        GopVerdict::Decode(DecodeReason::Motion),
        "{verdicts:?}"
    );
    let skipped = verdicts.iter().filter(|v| **v == GopVerdict::Skip).count();
    // Three in four GOPs after the warm-up (5 % noise on every frame's size makes a few
    // look moved).
    assert!(
        skipped * 4 >= (40 - warm) * 3,
        "{skipped} of 40 skipped: {verdicts:?}"
    );
    let counters = gates.counters();
    assert_eq!(counters.keyframes_total, 40);
    assert_eq!(counters.skips(SkipReason::StaticGop), skipped as u64);
    assert_eq!(counters.keyframes_decoded, 40 - skipped as u64);
    assert_eq!(gates.status(), GateStatus::Gating);
}

#[test]
fn a_keyframe_is_decoded_at_least_every_max_interval() {
    let gates = MotionGates::new(GateConfig {
        max_interval: Duration::from_secs(20),
        ..config()
    });
    let verdicts = run(&gates, &[false; 60], 3);
    let decoded: Vec<usize> = (0..60)
        .filter(|&i| matches!(verdicts[i], GopVerdict::Decode(_)))
        .collect();
    for pair in decoded.windows(2) {
        assert!(
            pair[1] - pair[0] <= 10,
            "a gap of {} GOPs: {verdicts:?}",
            pair[1] - pair[0]
        );
    }
    assert!(gates.counters().decodes(DecodeReason::MaxInterval) >= 1);
}

#[test]
fn each_stream_the_gate_cannot_read_falls_back_with_its_reason() {
    let reordered = |g: &mut GopPackets| g.reordered = true;
    let too_long = |g: &mut GopPackets| {
        g.too_long = true;
        g.complete = false;
    };
    let constant = |g: &mut GopPackets| g.sizes.iter_mut().for_each(|s| *s = 16_000);
    type Spoil<'a> = &'a dyn Fn(&mut GopPackets);
    let cases: [(Spoil<'_>, FallbackReason); 3] = [
        (&reordered, FallbackReason::BFrames),
        (&too_long, FallbackReason::NoKeyframe),
        (&constant, FallbackReason::Uninformative),
    ];
    for (spoil, reason) in cases {
        let gates = MotionGates::new(config());
        run(&gates, &[false; 10], 5);
        let mut noise = Noise(9);
        let mut spoilt = gop(&mut noise, false);
        spoil(&mut spoilt);
        let verdict = gates.judge_gop(&spoilt, Some(30_000));
        assert_eq!(verdict, GopVerdict::Decode(DecodeReason::Fallback(reason)));
        assert_eq!(gates.status(), GateStatus::Fallback(reason));
        assert!(!gates.status().describe().is_empty());
        // It lasts after its cause is gone, then the camera is learnt again and gated.
        let later = run(&gates, &[false; 3], 11);
        assert!(
            later
                .iter()
                .all(|v| *v == GopVerdict::Decode(DecodeReason::Fallback(reason)))
        );
        let long = run(
            &gates,
            &vec![false; config().fallback_gops as usize + 2],
            13,
        );
        assert_eq!(
            gates.status(),
            GateStatus::WarmingUp,
            "{reason:?}: {long:?}"
        );
        let learnt = run(&gates, &vec![false; config().warm_up_gops as usize], 15);
        assert_eq!(gates.status(), GateStatus::Gating, "{reason:?}: {learnt:?}");
    }
}

#[test]
fn varying_gop_lengths_fall_back() {
    let gates = MotionGates::new(config());
    let mut noise = Noise(1);
    let mut verdicts = Vec::new();
    for (i, len) in [49, 49, 20, 80, 30, 49].into_iter().enumerate() {
        let mut g = gop(&mut noise, false);
        g.sizes.resize(len, 15_000);
        verdicts.push(gates.judge_gop(&g, Some(i as i64 * 2000)));
    }
    let fallback = GopVerdict::Decode(DecodeReason::Fallback(FallbackReason::VariableGop));
    assert_eq!(verdicts.last(), Some(&fallback), "{verdicts:?}");
}

/// A grey frame with fixed per-pixel noise of the given seed, `light` times as bright.
fn frame(width: u32, height: u32, seed: u64, light: f32) -> Vec<u8> {
    let mut noise = Noise(seed);
    (0..width * height)
        .flat_map(|i| {
            let base = 60.0 + 100.0 * ((i % width) as f32 / width as f32);
            let v = (light * base + 6.0 * noise.next()).clamp(0.0, 255.0) as u8;
            [v, v, v]
        })
        .collect()
}

/// Paints a dark rectangle onto an RGB frame.
fn paint(rgb: &mut [u8], width: u32, (x, y, w, h): (u32, u32, u32, u32)) {
    for row in y..y + h {
        for col in x..x + w {
            let i = ((row * width + col) * 3) as usize;
            rgb[i..i + 3].copy_from_slice(&[20, 20, 30]);
        }
    }
}

#[test]
fn the_pixel_gate_finds_a_changed_region_and_ignores_noise_and_light() {
    let (w, h) = (640, 360);
    let gates = MotionGates::new(GateConfig::default());
    // The first three frames teach the background and its noise, each sent whole.
    for seed in 1..4 {
        let learning = gates.judge_frame(&frame(w, h, seed, 1.0), w, h, Some(DecodeReason::Motion));
        assert_eq!(
            learning,
            PixelVerdict::Whole(DetectReason::WarmUp),
            "frame {seed}"
        );
    }
    for seed in 4..8 {
        let verdict = gates.judge_frame(&frame(w, h, seed, 1.0), w, h, Some(DecodeReason::Motion));
        assert_eq!(verdict, PixelVerdict::Static, "noise alone, frame {seed}");
    }
    // The light drops by 10 % over the whole scene: still nothing.
    let dimmer = gates.judge_frame(&frame(w, h, 8, 0.9), w, h, Some(DecodeReason::Motion));
    assert_eq!(dimmer, PixelVerdict::Static);

    let person = (300, 100, 30, 120);
    let mut rgb = frame(w, h, 9, 0.9);
    paint(&mut rgb, w, person);
    let PixelVerdict::Regions(regions) = gates.judge_frame(&rgb, w, h, Some(DecodeReason::Motion))
    else {
        panic!("no region for the person");
    };
    assert_eq!(regions.len(), 1, "{regions:?}");
    let r = regions[0];
    assert!(
        r.x <= person.0
            && r.y <= person.1
            && r.x + r.width >= person.0 + person.2
            && r.y + r.height >= person.1 + person.3,
        "{r:?} does not hold {person:?}"
    );
    assert!(r.width * r.height < w * h / 3, "{r:?} is most of the frame");

    // Decoded for the max interval: the whole frame, even when static.
    let due = gates.judge_frame(&frame(w, h, 10, 0.9), w, h, Some(DecodeReason::MaxInterval));
    assert_eq!(due, PixelVerdict::Whole(DetectReason::MaxInterval));
    // The infrared light comes on: much changed, whole frame, then a new background.
    let mut night = frame(w, h, 9, 0.4);
    night.chunks_mut(3).enumerate().for_each(|(i, px)| {
        if (i as u32 % w) < w / 2 {
            px.iter_mut().for_each(|v| *v = v.saturating_add(90));
        }
    });
    let switched = gates.judge_frame(&night, w, h, Some(DecodeReason::Motion));
    assert_eq!(switched, PixelVerdict::Whole(DetectReason::MuchChanged));
    for _ in 0..2 {
        let learning = gates.judge_frame(&night, w, h, Some(DecodeReason::Motion));
        assert_eq!(learning, PixelVerdict::Whole(DetectReason::WarmUp));
    }
    let again = gates.judge_frame(&night, w, h, Some(DecodeReason::Motion));
    assert_eq!(again, PixelVerdict::Static);

    let counters = gates.counters();
    assert_eq!(counters.keyframes_detected, 8, "{counters:?}");
    assert_eq!(counters.skips(SkipReason::StaticPixels), 6, "{counters:?}");
    assert_eq!(counters.detections(DetectReason::Motion), 1);
}

#[test]
fn audits_that_find_change_make_the_gop_gate_fall_back() {
    let gates = MotionGates::new(GateConfig {
        audit_every: 2,
        ..GateConfig::default()
    });
    let (w, h) = (320, 180);
    for seed in 1..4 {
        gates.judge_frame(&frame(w, h, seed, 1.0), w, h, None);
    }
    for (i, seed) in (4..7).enumerate() {
        let mut rgb = frame(w, h, seed, 1.0);
        paint(&mut rgb, w, (40 + 60 * i as u32, 40, 30, 80));
        let verdict = gates.judge_frame(&rgb, w, h, Some(DecodeReason::Audit));
        assert!(verdict.detects(), "audit {i}: {verdict:?}");
    }
    assert_eq!(
        gates.status(),
        GateStatus::Fallback(FallbackReason::Uninformative)
    );
}

#[test]
fn the_state_survives_a_round_trip_through_json() {
    let gates = MotionGates::new(config());
    let mut moving = [false; 30];
    moving[25] = true;
    run(&gates, &moving[..20], 21);
    let (w, h) = (320, 180);
    for seed in 1..4 {
        gates.judge_frame(&frame(w, h, seed, 1.0), w, h, None);
    }
    let json = serde_json::to_string(&gates.state()).expect("serializes");
    let state: GateState = serde_json::from_str(&json).expect("deserializes");
    let restored = MotionGates::with_state(config(), state);
    assert_eq!(restored.counters(), gates.counters());
    let mut noise_a = Noise(22);
    let mut noise_b = Noise(22);
    for (i, &m) in moving[20..].iter().enumerate() {
        let at = Some((20 + i as i64) * 2000);
        assert_eq!(
            restored.judge_gop(&gop(&mut noise_a, m), at),
            gates.judge_gop(&gop(&mut noise_b, m), at)
        );
    }
    assert_eq!(
        restored.judge_frame(&frame(w, h, 4, 1.0), w, h, None),
        PixelVerdict::Static
    );
    let config: GateConfig = serde_json::from_str(r#"{"max_interval": 60}"#).expect("config");
    assert_eq!(config.max_interval, Duration::from_secs(60));
    assert!(serde_json::from_str::<GateConfig>(r#"{"max_intervall": 60}"#).is_err());
}
