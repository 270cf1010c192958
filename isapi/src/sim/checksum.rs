//! The CRC-32 of a recording body without reading the body through.
//!
//! A body is repetitions of `head(rep) + mark(rep) + tail(rep)` ([`super::body`]); `head`
//! and `tail` (the clip's bytes with its clocks moved) are the same for every recording of
//! the clip, so their CRC-32s are computed once per clip and repetition and kept in the
//! clip. A recording's CRC-32 is then those and its marks' CRC-32s combined, using the
//! algebra zlib's `crc32_combine` uses: CRC(A + B) = CRC(A) * x^(8*len B) mod P xor CRC(B),
//! with the shift by each fixed piece length computed once per call. The first checksum of
//! a clip costs a read of its repetitions (about 70 ms for an hour of 10 s clips); every
//! later one costs microseconds, so checksums do not load the simulator during benchmarks.
//! CRC-32 is IEEE (reflected, polynomial 0xEDB88320), as `crc32fast` and zlib compute it.

use bytes::BytesMut;

use super::{
    body::MARK_LEN,
    clip::{Clip, ClipFormat},
};

/// The IEEE polynomial, reflected.
const POLY: u32 = 0xEDB8_8320;
/// Bytes hashed at a time while computing a repetition's CRC.
const PIECE: usize = 64 * 1024;

/// `a * b mod P` over GF(2), both reflected (zlib's `multmodp`). `a` must not be 0.
fn multmodp(a: u32, mut b: u32) -> u32 {
    let mut m = 1u32 << 31;
    let mut p = 0;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                break;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
    p
}

/// `x^(8n) mod P`: the operator that moves a CRC past `n` more bytes.
fn shift_by(n: u64) -> u32 {
    let mut p = 1u32 << 31; // x^0
    let mut square = 1u32 << 30; // x^1
    for _ in 0..3 {
        square = multmodp(square, square); // x^2, x^4, x^8
    }
    let mut n = n;
    while n != 0 {
        if n & 1 != 0 {
            p = multmodp(square, p);
        }
        square = multmodp(square, square);
        n >>= 1;
    }
    p
}

/// The CRC of `A + B` from the CRC of `A`, the CRC of `B` and `shift_by(len B)`.
fn combine(crc_a: u32, crc_b: u32, shift_b: u32) -> u32 {
    multmodp(shift_b, crc_a) ^ crc_b
}

/// The CRC-32 of a body of `reps` repetitions of `clip`, repetition `rep` marked with
/// `mark(rep)` (exactly [`MARK_LEN`] bytes).
pub(crate) fn body_crc(clip: &Clip, reps: u64, mark: impl Fn(u64) -> Vec<u8>) -> u32 {
    let crcs = repetition_crcs(clip, reps);
    let mark_shift = shift_by(MARK_LEN as u64);
    match &clip.format {
        ClipFormat::Mp4 => {
            let clip_crc = crcs.first().map_or(0, |&(head, _)| head);
            combine(clip_crc, crc32fast::hash(&mark(0)), mark_shift)
        }
        ClipFormat::Ps(layout) => {
            let insert = layout.first_packet_at.min(layout.content_len);
            let head_shift = shift_by(insert as u64);
            let tail_shift = shift_by((layout.content_len - insert) as u64);
            let mut crc = 0;
            for (rep, &(head, tail)) in (0..reps).zip(crcs.iter()) {
                crc = combine(crc, head, head_shift);
                crc = combine(crc, crc32fast::hash(&mark(rep)), mark_shift);
                crc = combine(crc, tail, tail_shift);
            }
            if layout.has_end_code {
                crc = combine(crc, crc32fast::hash(&[0, 0, 1, 0xB9]), shift_by(4));
            }
            crc
        }
    }
}

/// The CRCs of the first `reps` repetitions' bytes before and after their marks (for MP4,
/// the whole clip and nothing), computing the ones the clip does not have yet.
fn repetition_crcs(clip: &Clip, reps: u64) -> Vec<(u32, u32)> {
    let reps = usize::try_from(reps).unwrap_or(usize::MAX);
    let mut known = clip
        .repetition_crcs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (insert, end) = match &clip.format {
        ClipFormat::Ps(layout) => (
            layout.first_packet_at.min(layout.content_len),
            layout.content_len,
        ),
        ClipFormat::Mp4 => (clip.data.len(), clip.data.len()),
    };
    let mut buf = BytesMut::with_capacity(PIECE);
    let mut crc_of = |range: std::ops::Range<usize>, rep: u64| {
        let mut hasher = crc32fast::Hasher::new();
        let mut at = range.start;
        while at < range.end {
            let next = (at + PIECE).min(range.end);
            buf.clear();
            clip.extend_repetition(at..next, rep, &mut buf);
            hasher.update(&buf);
            at = next;
        }
        hasher.finalize()
    };
    while known.len() < reps {
        let rep = known.len() as u64;
        let crcs = (crc_of(0..insert, rep), crc_of(insert..end, rep));
        known.push(crcs);
    }
    known[..reps].to_vec()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn combined_crcs_are_the_crc_of_the_whole(
            a in proptest::collection::vec(any::<u8>(), 0..300),
            b in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let whole = crc32fast::hash(&[a.as_slice(), b.as_slice()].concat());
            let combined = combine(crc32fast::hash(&a), crc32fast::hash(&b), shift_by(b.len() as u64));
            prop_assert_eq!(combined, whole);
        }
    }
}
