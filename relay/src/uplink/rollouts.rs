//! Moving software rollouts on when a box's update ends (`software::rollout::advance`), and
//! sending the next wave's RPCs to the boxes online. A failure leaves the rollout where it
//! was; the next final report of one of its boxes tries again.

use std::sync::Arc;

use uuid::Uuid;

use super::Inner;
use crate::software::rollout;

pub(super) async fn advance(inner: &Arc<Inner>, (tenant, id): (Uuid, Uuid)) {
    match rollout::advance(&inner.db, &inner.objects, (tenant, id)).await {
        Ok(queued) => {
            let online: Vec<_> = queued
                .iter()
                .filter(|(_, online)| *online)
                .map(|(rpc, _)| rpc)
                .collect();
            if let Err(error) = super::rpc::send_all(inner, &online).await {
                tracing::warn!(%error, %tenant, rollout = %id,
                    "software updates not sent stay queued until their boxes connect");
            }
        }
        Err(error) => {
            tracing::error!(%error, %tenant, rollout = %id, "software rollout not moved on");
        }
    }
}
