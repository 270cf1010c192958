//! `dipper-bench searches`: remote search end to end (issue 18), in one run.
//!
//! A real Mosquitto and the real relay (`dipper-relay run` over SQLite, its default disk
//! object store), both as the `uplink` bench starts them; a person enrolled through the API
//! from `.cache/faces/obama.jpg`. Then:
//! - **Acknowledgement** ([`ack`]): `boxes` simulated boxes ([`boxes`]: raw MQTT v5 clients
//!   activated through the API, answering `createSearch` at once); `ack_searches` searches
//!   of one box, then as many of all the boxes, each timed from `POST .../searches` to
//!   every part `accepted` at the relay; beside the bare broker round trip (`uplink::peer`).
//! - **Load** ([`load`]): `searches` searches started at once over all the boxes, each box
//!   reporting `matches` matches a search with their snapshots: the relay's cores and
//!   memory, and every result at the relay once, with snapshots.
//! - **Results** ([`real_box`]): a real box daemon searching a simulated camera's footage
//!   of the person: from each match stored on the box to the relay showing it with
//!   snapshot URLs.

mod ack;
pub(crate) mod boxes;
mod load;
mod real_box;
mod report;
mod reporting;

use std::time::Duration;

use crate::BoxError;
use crate::uplink::{broker, fleet, peer, relay, site};

#[derive(Debug, clap::Args)]
pub(crate) struct SearchesArgs {
    /// Simulated boxes (the 50-box figures and the load).
    #[arg(long, default_value_t = 50)]
    boxes: usize,
    /// Searches started at once over every box, for the load.
    #[arg(long, default_value_t = 100)]
    searches: usize,
    /// Searches timed one after another, of one box and of every box.
    #[arg(long, default_value_t = 100)]
    ack_searches: usize,
    /// Matches each box finds in each search of the load.
    #[arg(long, default_value_t = 2)]
    matches: u32,
    /// Round trips of the bare broker peer.
    #[arg(long, default_value_t = 1000)]
    calls: usize,
    /// Recordings of the real box's camera that show the person (of 19 searched).
    #[arg(long, default_value_t = 5)]
    face_recordings: usize,
    /// How long the load, and the real box's search, may take at most, in seconds.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Print one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: SearchesArgs) -> Result<(), BoxError> {
    let broker = broker::Broker::start()?;
    let relay = relay::RelayProcess::start(&broker).await?;
    let site = site::Site::start(&relay).await?;
    let photo = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../.cache/faces/obama.jpg"
    ));
    let jpeg = std::fs::read(photo)
        .map_err(|e| format!("{}: {e} (run scripts/fetch-models)", photo.display()))?;
    let person = site.enrol("Barack Obama", jpeg).await?;
    let within = Duration::from_secs(args.seconds);
    let identities = fleet::activate(&site, args.boxes.max(1)).await?;
    let sim = boxes::SearchBoxes::connect(&broker, &identities, snapshot_jpeg()?).await?;
    for identity in &identities {
        site.wait_online(&identity.device).await?;
    }
    tracing::info!(boxes = identities.len(), "searches: the boxes are online");
    let one = ack::Request {
        body: ack::search_body(&person, ("devices", &identities[0].device)),
        boxes: 1,
    };
    let all = ack::Request {
        body: ack::search_body(&person, ("areas", &site.area)),
        boxes: identities.len(),
    };
    // A short warm-up of the path (connections, prepared statements, caches).
    ack::acknowledgements(&site, &sim, &one, 5).await?;
    let ack_one = ack::acknowledgements(&site, &sim, &one, args.ack_searches).await?;
    let ack_all = ack::acknowledgements(&site, &sim, &all, args.ack_searches).await?;
    let rtt = peer::round_trips(&broker, args.calls).await?;
    tracing::info!("searches: acknowledgements measured");
    let load = load::Load {
        site: &site,
        relay: &relay,
        boxes: &sim,
        body: &all.body,
        n_boxes: identities.len(),
        searches: args.searches,
        matches: args.matches,
        within,
    }
    .run()
    .await?;
    tracing::info!("searches: the load measured");
    drop(sim);
    let results = real_box::run(&site, &person, args.face_recordings, within).await?;
    let report = report::Report::new(&args, (ack_one, ack_all, rtt), load, results);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        report.print_summary();
    }
    Ok(())
}

/// The snapshot the simulated boxes upload: a small grey JPEG.
pub(crate) fn snapshot_jpeg() -> Result<Vec<u8>, BoxError> {
    let image = image::GrayImage::from_pixel(64, 64, image::Luma([128]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Jpeg)?;
    Ok(bytes.into_inner())
}
