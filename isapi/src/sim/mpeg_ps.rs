//! The parts of MPEG program stream syntax the simulator rewrites: 33-bit clock fields.
//!
//! [`scan`] walks a whole program stream once and returns where every clock field is: the
//! SCR of each pack header (MPEG-2 layout `01` + 14-byte header + stuffing, or MPEG-1
//! layout `0010` + 12-byte header, which is what ffmpeg's `-f mpeg` writes), and the PTS
//! and DTS of each audio/video/private PES packet (MPEG-2 header with flags at byte 7 and
//! header length at byte 8, or MPEG-1 header with stuffing and STD buffer bytes). System
//! headers (`00 00 01 BB`), padding, PSM and other packets are skipped by their length; a
//! program end code (`00 00 01 B9`) is four bytes. Anything else is an error naming the
//! byte offset. [`write_clock`] changes a field's 33-bit value and keeps every marker and
//! prefix bit (and the MPEG-2 SCR extension) as it was.

use std::ops::Range;

/// Clock ticks per second (the 90 kHz MPEG system clock).
pub(crate) const CLOCK_HZ: u64 = 90_000;
/// The 33-bit clock wraps here.
pub(crate) const CLOCK_WRAP: u64 = 1 << 33;
/// Bytes of a clock field that carry the 33-bit value (all layouts).
pub(crate) const CLOCK_FIELD_LEN: usize = 5;

/// How a clock field's bits are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClockLayout {
    /// `pppp vvv1 vvvvvvvv vvvvvvv1 vvvvvvvv vvvvvvv1`: PES PTS/DTS, MPEG-1 pack SCR.
    Pts,
    /// `01vvv1vv vvvvvvvv vvvvv1vv vvvvvvvv vvvvv1ee`: MPEG-2 pack SCR base.
    Mpeg2Scr,
}

/// A 33-bit clock value in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClockField {
    pub(crate) offset: usize,
    pub(crate) layout: ClockLayout,
    pub(crate) value: u64,
}

/// What [`scan`] found in a program stream.
#[derive(Debug, Clone)]
pub(crate) struct PsLayout {
    /// All clock fields, by offset.
    pub(crate) clocks: Vec<ClockField>,
    /// Length of the stream without a final program end code.
    pub(crate) content_len: usize,
    /// Whether the stream ended with a program end code.
    pub(crate) has_end_code: bool,
    /// The offset just after the first pack header and the system header following it:
    /// the first place a packet may be inserted.
    pub(crate) first_packet_at: usize,
    /// Play time: last PTS - first PTS + one frame, in clock ticks.
    pub(crate) duration: u64,
}

/// A program stream that cannot be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanError {
    pub(crate) offset: usize,
    pub(crate) reason: String,
}

/// `00 00 01 BA`.
pub(crate) const PACK_START: [u8; 4] = [0, 0, 1, 0xBA];
const PROGRAM_END: u8 = 0xB9;
const PACK: u8 = 0xBA;
const SYSTEM_HEADER: u8 = 0xBB;
const PADDING: u8 = 0xBE;

/// Finds every clock field of a program stream.
pub(crate) fn scan(data: &[u8]) -> Result<PsLayout, ScanError> {
    if !data.starts_with(&PACK_START) {
        return Err(ScanError::at(
            0,
            "does not start with a pack header (00 00 01 BA)",
        ));
    }
    let mut scanner = Scanner::new(data);
    let mut at = 0;
    while at < data.len() {
        at = scanner.step(at)?;
    }
    scanner.finish()
}

impl ScanError {
    fn at(offset: usize, reason: &str) -> ScanError {
        ScanError {
            offset,
            reason: reason.to_owned(),
        }
    }
}

/// What [`scan`] has found so far, a packet at a time.
struct Scanner<'a> {
    data: &'a [u8],
    clocks: Vec<ClockField>,
    /// The PTS of every PES packet that has one.
    pts: Vec<u64>,
    first_packet_at: Option<usize>,
    has_end_code: bool,
    content_len: usize,
}

impl<'a> Scanner<'a> {
    fn new(data: &'a [u8]) -> Self {
        Scanner {
            data,
            clocks: Vec::new(),
            pts: Vec::new(),
            first_packet_at: None,
            has_end_code: false,
            content_len: data.len(),
        }
    }

    /// Reads the pack header or packet at `at`; returns where the next one starts.
    fn step(&mut self, at: usize) -> Result<usize, ScanError> {
        let header = self
            .data
            .get(at..at + 4)
            .filter(|h| h[..3] == [0, 0, 1])
            .ok_or_else(|| ScanError::at(at, "expected a start code (00 00 01)"))?;
        let id = header[3];
        let next = match id {
            PACK => self.pack_header(at)?,
            PROGRAM_END => {
                if at + 4 == self.data.len() {
                    self.has_end_code = true;
                    self.content_len = at;
                }
                at + 4
            }
            0xBD | 0xC0..=0xEF => self.pes_packet(at)?,
            SYSTEM_HEADER..=0xFF => {
                packet_range(self.data, at)
                    .ok_or_else(|| ScanError::at(at, "short packet"))?
                    .end
            }
            _ => return Err(ScanError::at(at, "not a program stream start code")),
        };
        if self.first_packet_at.is_none() && id != PACK && id != SYSTEM_HEADER {
            self.first_packet_at = Some(at);
        }
        Ok(next)
    }

    /// Notes the SCR of the pack header at `at` (MPEG-2 or MPEG-1 layout); returns its end.
    fn pack_header(&mut self, at: usize) -> Result<usize, ScanError> {
        let fixed = self
            .data
            .get(at..at + 14)
            .ok_or_else(|| ScanError::at(at, "short pack header"))?;
        if fixed[4] >> 6 == 0b01 {
            self.clocks
                .push(clock_at(self.data, at + 4, ClockLayout::Mpeg2Scr));
            Ok(at + 14 + usize::from(fixed[13] & 0x07))
        } else if fixed[4] >> 4 == 0b0010 {
            self.clocks
                .push(clock_at(self.data, at + 4, ClockLayout::Pts));
            Ok(at + 12)
        } else {
            Err(ScanError::at(
                at,
                "pack header is neither MPEG-1 nor MPEG-2",
            ))
        }
    }

    /// Notes the PTS and DTS of the PES packet at `at`; returns its end.
    fn pes_packet(&mut self, at: usize) -> Result<usize, ScanError> {
        let packet =
            packet_range(self.data, at).ok_or_else(|| ScanError::at(at, "short PES packet"))?;
        let found = pes_clocks(&self.data[packet.clone()])
            .ok_or_else(|| ScanError::at(at, "unreadable PES header"))?;
        for (i, relative) in found.into_iter().flatten().enumerate() {
            let field = clock_at(self.data, packet.start + relative, ClockLayout::Pts);
            if i == 0 {
                self.pts.push(field.value);
            }
            self.clocks.push(field);
        }
        Ok(packet.end)
    }

    /// The layout found, once the whole stream has been read.
    fn finish(mut self) -> Result<PsLayout, ScanError> {
        self.pts.sort_unstable();
        self.pts.dedup();
        let frame = self
            .pts
            .windows(2)
            .map(|w| w[1] - w[0])
            .min()
            .ok_or_else(|| ScanError::at(0, "fewer than two presentation timestamps"))?;
        let (Some(first), Some(last)) = (self.pts.first(), self.pts.last()) else {
            return Err(ScanError::at(0, "no presentation timestamps"));
        };
        Ok(PsLayout {
            duration: last - first + frame,
            clocks: self.clocks,
            content_len: self.content_len,
            has_end_code: self.has_end_code,
            first_packet_at: self.first_packet_at.unwrap_or(self.data.len()),
        })
    }
}

/// The bytes of the packet (start code, length and payload) starting at `at`.
fn packet_range(data: &[u8], at: usize) -> Option<Range<usize>> {
    let len = data.get(at + 4..at + 6)?;
    let end = at + 6 + usize::from(u16::from_be_bytes([len[0], len[1]]));
    (end <= data.len()).then_some(at..end)
}

/// Offsets (within the packet) of a PES packet's PTS and DTS, when it has them.
fn pes_clocks(packet: &[u8]) -> Option<[Option<usize>; 2]> {
    let flags_at = 6;
    let first = *packet.get(flags_at)?;
    if first >> 6 == 0b10 {
        // MPEG-2: '10' scrambling priority alignment copyright original; then PTS_DTS flags.
        let flags = packet.get(7)? >> 6;
        let header_len = usize::from(*packet.get(8)?);
        if 9 + header_len > packet.len() {
            return None;
        }
        return Some(match flags {
            0b10 if header_len >= 5 => [Some(9), None],
            0b11 if header_len >= 10 => [Some(9), Some(14)],
            0b00 => [None, None],
            _ => return None,
        });
    }
    // MPEG-1: up to 16 stuffing bytes, an optional STD buffer field, then the clocks.
    let mut at = flags_at;
    while *packet.get(at)? == 0xFF {
        at += 1;
    }
    if packet.get(at)? >> 6 == 0b01 {
        at += 2;
    }
    let marker = *packet.get(at)?;
    let found = match marker >> 4 {
        0b0010 => [Some(at), None],
        0b0011 => [Some(at), Some(at + 5)],
        _ if marker == 0x0F => [None, None],
        _ => return None,
    };
    let end = found
        .iter()
        .flatten()
        .max()
        .map_or(at, |&o| o + CLOCK_FIELD_LEN);
    (end <= packet.len()).then_some(found)
}

fn clock_at(data: &[u8], offset: usize, layout: ClockLayout) -> ClockField {
    let mut field = [0; CLOCK_FIELD_LEN];
    field.copy_from_slice(&data[offset..offset + CLOCK_FIELD_LEN]);
    ClockField {
        offset,
        layout,
        value: read_clock(&field, layout),
    }
}

/// The 33-bit value of a clock field.
pub(crate) fn read_clock(b: &[u8; CLOCK_FIELD_LEN], layout: ClockLayout) -> u64 {
    let b = b.map(u64::from);
    match layout {
        ClockLayout::Pts => {
            ((b[0] >> 1) & 0x07) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1
        }
        ClockLayout::Mpeg2Scr => {
            ((b[0] >> 3) & 0x07) << 30
                | (b[0] & 0x03) << 28
                | b[1] << 20
                | (b[2] >> 3) << 15
                | (b[2] & 0x03) << 13
                | b[3] << 5
                | b[4] >> 3
        }
    }
}

/// Writes the 33-bit `value` into a clock field, keeping its marker, prefix and extension bits.
pub(crate) fn write_clock(b: &mut [u8; CLOCK_FIELD_LEN], layout: ClockLayout, value: u64) {
    let v = value % CLOCK_WRAP;
    // Each `as u8` below keeps the low 8 bits on purpose: the masks pick the bits.
    match layout {
        ClockLayout::Pts => {
            b[0] = (b[0] & 0xF1) | ((v >> 29) as u8 & 0x0E);
            b[1] = (v >> 22) as u8;
            b[2] = (b[2] & 0x01) | ((v >> 14) as u8 & 0xFE);
            b[3] = (v >> 7) as u8;
            b[4] = (b[4] & 0x01) | ((v << 1) as u8 & 0xFE);
        }
        ClockLayout::Mpeg2Scr => {
            b[0] = (b[0] & 0xC4) | ((v >> 27) as u8 & 0x38) | ((v >> 28) as u8 & 0x03);
            b[1] = (v >> 20) as u8;
            b[2] = (b[2] & 0x04) | ((v >> 12) as u8 & 0xF8) | ((v >> 13) as u8 & 0x03);
            b[3] = (v >> 5) as u8;
            b[4] = (b[4] & 0x07) | ((v << 3) as u8 & 0xF8);
        }
    }
}

/// A padding packet (`00 00 01 BE`) of exactly `total_len` bytes carrying `text`, then
/// `0xFF` fill; text that does not fit is cut.
pub(crate) fn padding_packet(text: &str, total_len: usize) -> Vec<u8> {
    let payload_len = total_len.saturating_sub(6).min(usize::from(u16::MAX));
    let mut packet = Vec::with_capacity(6 + payload_len);
    packet.extend_from_slice(&[0, 0, 1, PADDING]);
    packet.extend_from_slice(&(payload_len as u16).to_be_bytes());
    let text = &text.as_bytes()[..text.len().min(payload_len)];
    packet.extend_from_slice(text);
    packet.resize(6 + payload_len, 0xFF);
    packet
}
