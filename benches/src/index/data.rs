//! The benchmark's vectors: face-like, clustered by identity.
//!
//! Face embeddings come in clusters (many photos per person), which is what makes the
//! neighbours of a query close together in score and a quantised index work for its recall.
//! So: `identities` centres uniform on the unit sphere; each stored vector is a random
//! identity's centre plus Gaussian noise of norm about `noise`, normalised; each query is a
//! fresh noisy view (same noise) of the identity of a random stored vector, so every query
//! has a cluster of true neighbours in the index. With noise 0.6 two views of one identity
//! have cosine about 0.74 and two identities about 0.

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::Path,
};

use rand::{Rng, SeedableRng, rngs::StdRng};

/// One line for the report.
pub(super) fn describe(identities: usize, noise: f32) -> String {
    format!(
        "unit vectors normalise(centre + noise): {identities} identity centres uniform on the \
         sphere, Gaussian noise of norm {noise}; queries are fresh noisy views of the identities \
         of random stored vectors"
    )
}

/// Row-major `count × dims` unit vectors.
#[derive(Debug)]
pub(super) struct Vectors {
    pub(super) dims: usize,
    pub(super) values: Vec<f32>,
}

impl Vectors {
    pub(super) fn len(&self) -> usize {
        self.values.len() / self.dims
    }

    pub(super) fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dims..(i + 1) * self.dims]
    }

    /// Writes the vectors as raw little-endian `f32`, row after row (what numpy's
    /// `fromfile(dtype="<f4")` reads).
    pub(super) fn write_raw(&self, path: &Path) -> std::io::Result<()> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        for v in &self.values {
            out.write_all(&v.to_le_bytes())?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    }
}

/// The stored vectors and the queries.
pub(super) fn generate(
    count: usize,
    queries: usize,
    dims: usize,
    identities: usize,
    noise: f32,
    seed: u64,
) -> (Vectors, Vectors) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut centres = vec![0.0f32; identities * dims];
    for centre in centres.chunks_exact_mut(dims) {
        for c in centre.iter_mut() {
            *c = gaussian(&mut rng);
        }
        normalise(centre);
    }
    let scale = noise / (dims as f32).sqrt();
    let view = |identity: usize, rng: &mut StdRng, out: &mut [f32]| {
        let centre = &centres[identity * dims..(identity + 1) * dims];
        for (o, c) in out.iter_mut().zip(centre) {
            *o = c + scale * gaussian(rng);
        }
        normalise(out);
    };
    let mut stored = vec![0.0f32; count * dims];
    let mut owners = Vec::with_capacity(count);
    for out in stored.chunks_exact_mut(dims) {
        let identity = rng.random_range(0..identities);
        owners.push(identity);
        view(identity, &mut rng, out);
    }
    let mut asked = vec![0.0f32; queries * dims];
    for out in asked.chunks_exact_mut(dims) {
        let identity = owners[rng.random_range(0..count)];
        view(identity, &mut rng, out);
    }
    (
        Vectors {
            dims,
            values: stored,
        },
        Vectors {
            dims,
            values: asked,
        },
    )
}

/// A standard normal sample (Box-Muller).
fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    for x in v {
        *x = (f64::from(*x) / norm) as f32;
    }
}
