//! `/__api__/porch/reach…`: reachability for `porch doctor` and the Settings pane.
//!
//! - `GET reach`: run every check ([`crate::reach::Report`]);
//! - `POST reach/phone`: start a phone test (409 with the reason while no other device can
//!   open it: bound to this computer only, or not serving);
//! - `GET reach/phone/{token}?wait=N[&here=true]`: the test's state, waiting up to N
//!   seconds (at most 60) for it to change: for another device to open it, or (unless the
//!   caller says with `here=true` that it knows already) for this computer to open it.
//!
//! All of them need the publisher's key, like every management call. The page the other
//! device opens is a viewer's and belongs to the gateway (`/__porch__/reach/<token>`).

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

use super::auth::Publisher;
use super::error::ApiError;
use crate::engine::Engine;
use crate::reach::{PhoneState, PhoneTest, Report};

/// Longest wait one poll may ask for.
const MAX_WAIT_SECS: u64 = 60;

/// `GET /porch/reach`.
pub(super) async fn report(_: Publisher, State(engine): State<Engine>) -> Json<Report> {
    Json(engine.reach().report().await)
}

/// `POST /porch/reach/phone`.
pub(super) async fn new_phone_test(_: Publisher, State(engine): State<Engine>) -> Result<Json<PhoneTest>, ApiError> {
    Ok(Json(engine.reach().new_phone_test()?))
}

/// Query of a phone test's state.
#[derive(Debug, Deserialize)]
pub(super) struct WaitQuery {
    /// Seconds to wait for a change.
    wait: Option<u64>,
    /// The caller already knows the URL was opened on this computer: only another device,
    /// or the end of the test, is a change.
    #[serde(default)]
    here: bool,
}

/// `GET /porch/reach/phone/{token}?wait=N`.
pub(super) async fn phone_state(
    _: Publisher,
    State(engine): State<Engine>,
    Path(token): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Json<PhoneState>, ApiError> {
    let wait = q.wait.unwrap_or(0).min(MAX_WAIT_SECS);
    let state = if wait == 0 {
        engine.reach().phone_state(&token)?
    } else {
        engine.reach().wait_phone(&token, Duration::from_secs(wait), q.here).await?
    };
    Ok(Json(state))
}
