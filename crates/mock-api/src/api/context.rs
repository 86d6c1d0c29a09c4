//! What a handler needs to answer: the world, the configuration and the base URL.

use crate::config::MockConfig;
use crate::world::{MockImage, World};

/// What a handler needs to answer.
pub(crate) struct Context<'a> {
    pub(crate) world: &'a World,
    pub(crate) config: &'a MockConfig,
    /// `http://127.0.0.1:PORT`, for absolute next-page URLs.
    pub(crate) base_url: &'a str,
    /// Each sequence's extent `[minx, miny, maxx, maxy]`, in `world.sequences` order.
    pub(crate) extents: &'a [[f64; 4]],
}

impl Context<'_> {
    /// The images of the sequences whose extent meets `reach` (all images without one): every
    /// image a search in `reach` can match, without scanning the whole world per request.
    pub(crate) fn images_near(&self, reach: Option<[f64; 4]>) -> impl Iterator<Item = &MockImage> {
        self.world
            .sequences
            .iter()
            .zip(self.extents)
            .filter(move |(_, e)| {
                reach.is_none_or(|r| e[0] <= r[2] && e[2] >= r[0] && e[1] <= r[3] && e[3] >= r[1])
            })
            .flat_map(|(s, _)| s.images.iter())
    }
}

/// Each sequence's extent, for [`Context::images_near`].
pub(crate) fn extents(world: &World) -> Vec<[f64; 4]> {
    world
        .sequences
        .iter()
        .map(|s| {
            s.images.iter().fold(
                [
                    f64::INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NEG_INFINITY,
                ],
                |e, i| {
                    [
                        e[0].min(i.lon),
                        e[1].min(i.lat),
                        e[2].max(i.lon),
                        e[3].max(i.lat),
                    ]
                },
            )
        })
        .collect()
}
