//! [`Region`]s from a grid of changed cells: groups of touching cells, each box padded so
//! a face at its edge is whole and grown to the detector's smallest useful size, and
//! overlapping boxes merged.

use serde::{Deserialize, Serialize};

use super::GateConfig;

/// A rectangle of a keyframe, in its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Region {
    fn right(&self) -> u32 {
        self.x + self.width
    }

    fn bottom(&self) -> u32 {
        self.y + self.height
    }

    fn overlaps(&self, other: &Region) -> bool {
        self.x < other.right()
            && other.x < self.right()
            && self.y < other.bottom()
            && other.y < self.bottom()
    }

    fn union(&self, other: &Region) -> Region {
        let (x, y) = (self.x.min(other.x), self.y.min(other.y));
        Region {
            x,
            y,
            width: self.right().max(other.right()) - x,
            height: self.bottom().max(other.bottom()) - y,
        }
    }
}

/// Unsets changed cells in groups (of touching cells) smaller than `min_cells`: noise, not
/// a person, whose body covers several cells.
pub(super) fn drop_small_groups(changed: &mut [bool], columns: u32, rows: u32, min_cells: usize) {
    let mut seen = vec![false; changed.len()];
    for start in 0..changed.len() {
        if !changed[start] || seen[start] {
            continue;
        }
        let group = flood(changed, &mut seen, start, columns, rows);
        if group.len() < min_cells {
            for i in group {
                changed[i] = false;
            }
        }
    }
}

/// The cells of the group of changed cells holding `start`, marked seen.
fn flood(changed: &[bool], seen: &mut [bool], start: usize, columns: u32, rows: u32) -> Vec<usize> {
    let mut group = vec![start];
    seen[start] = true;
    let mut next = 0;
    while let Some(&i) = group.get(next) {
        next += 1;
        for n in neighbours(i, columns, rows) {
            if changed[n] && !seen[n] {
                seen[n] = true;
                group.push(n);
            }
        }
    }
    group
}

/// The cells touching cell `i` (eight-connected).
fn neighbours(i: usize, columns: u32, rows: u32) -> impl Iterator<Item = usize> {
    let (columns, rows) = (columns as i64, rows as i64);
    let (x, y) = (i as i64 % columns, i as i64 / columns);
    (-1..=1)
        .flat_map(move |dy| (-1..=1).map(move |dx| (x + dx, y + dy)))
        .filter(move |&(nx, ny)| {
            (nx, ny) != (x, y) && (0..columns).contains(&nx) && (0..rows).contains(&ny)
        })
        .map(move |(nx, ny)| (ny * columns + nx) as usize)
}

/// The padded, merged boxes around each group of changed cells, in frame pixels.
pub(super) fn boxes(
    changed: &[bool],
    columns: u32,
    rows: u32,
    cell: u32,
    frame: (u32, u32),
    config: &GateConfig,
) -> Vec<Region> {
    let mut seen = vec![false; changed.len()];
    let mut regions = Vec::new();
    for start in 0..changed.len() {
        if !changed[start] || seen[start] {
            continue;
        }
        // One group's box, in cells.
        let (mut left, mut top, mut right, mut bottom) = (u32::MAX, u32::MAX, 0, 0);
        for i in flood(changed, &mut seen, start, columns, rows) {
            let (x, y) = (i as u32 % columns, i as u32 / columns);
            (left, top, right, bottom) = (left.min(x), top.min(y), right.max(x), bottom.max(y));
        }
        let cells = Region {
            x: left * cell,
            y: top * cell,
            width: (right - left + 1) * cell,
            height: (bottom - top + 1) * cell,
        };
        regions.push(pad(cells, frame, config));
    }
    merge(regions)
}

/// `region` grown by the padding on each side and to the smallest useful side, within the
/// frame.
fn pad(region: Region, (width, height): (u32, u32), config: &GateConfig) -> Region {
    let grow = |start: u32, length: u32, limit: u32| -> (u32, u32) {
        let padded = length as f32 * (1.0 + 2.0 * config.region_padding.max(0.0));
        let wanted = (padded as u32).max(config.min_region_px).min(limit);
        let centre = start + length / 2;
        let first = centre.saturating_sub(wanted / 2).min(limit - wanted);
        (first, wanted)
    };
    let (x, w) = grow(region.x, region.width, width.max(1));
    let (y, h) = grow(region.y, region.height, height.max(1));
    Region {
        x,
        y,
        width: w,
        height: h,
    }
}

/// Unions overlapping regions until none overlap.
fn merge(mut regions: Vec<Region>) -> Vec<Region> {
    loop {
        let mut merged = false;
        'outer: for i in 0..regions.len() {
            for j in i + 1..regions.len() {
                if regions[i].overlaps(&regions[j]) {
                    let other = regions.swap_remove(j);
                    regions[i] = regions[i].union(&other);
                    merged = true;
                    break 'outer;
                }
            }
        }
        if !merged {
            return regions;
        }
    }
}
