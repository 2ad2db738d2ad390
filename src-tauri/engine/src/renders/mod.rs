//! Renders: documents run start to finish, their variants, schedules and mail.
//!
//! Owns the render slots (one render at a time by default, so a laptop is not swamped),
//! which items are rendering, the render folders under the data folder, variants (named
//! parameter sets), schedules and the loop that fires them, and mail after a render.
//! `render` runs one render; `variants`, `schedules` and `mail` are the operations on each.
//!
//! Does not: store bundles (the library), deploy (the deployer calls [`Renders::run_render`])
//! or build environments (the apps service owns them; renders borrow them).
//!
//! Keep-awake (`crate::awake`) is told of every render, from the moment it is queued to its
//! end (a hold dropped with it), and of the schedule loop's next run, so the computer stays
//! awake for both.
//!
//! Concurrency: a cheap `Clone` over an `Arc`. A render waits for a slot of a semaphore;
//! the set of rendering items is a std lock held only to insert or remove.

pub mod mail;
mod render;
pub mod schedules;
pub mod variants;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::apps::Apps;
use crate::awake::Awake;
use crate::library::Library;
use crate::shared::Shared;

pub use mail::SmtpSettings;
pub use render::primary_page;
pub use schedules::OptionsPatch;

/// The renders service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Renders {
    shared: Shared,
    library: Library,
    apps: Apps,
    /// Told of each render and of the schedule loop's next run (keep-awake).
    awake: Awake,
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    /// Render slots (one render at a time by default).
    render_slots: tokio::sync::Semaphore,
    /// Items (and variants, 0 for none) with a render queued or running. A std lock: set
    /// updates only.
    rendering: Mutex<HashSet<(i64, i64)>>,
    /// Tells the schedule loop that schedules changed (see [`schedules`]).
    schedule_wake: crate::scheduler::driver::Wake,
    /// Per item, held by a deploy from its render until the new bundle is active (see
    /// [`Renders::deploying`]). A std lock: map look-ups only.
    deploying: Mutex<std::collections::HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl Renders {
    /// The renders service of an engine.
    pub(crate) fn new(shared: Shared, library: Library, apps: Apps, awake: Awake) -> Renders {
        let slots = shared.config.render_concurrency.max(1);
        let state = State {
            render_slots: tokio::sync::Semaphore::new(slots),
            rendering: Mutex::new(HashSet::new()),
            schedule_wake: crate::scheduler::driver::Wake::default(),
            deploying: Mutex::new(std::collections::HashMap::new()),
        };
        Renders { shared, library, apps, awake, state: Arc::new(state) }
    }

    /// Held by a deploy of a rendered item from its render until its bundle is active. A
    /// render the publisher asks for meanwhile waits for it, so it renders the new version
    /// (the deploy's render holds the render slot, but it lets go before the activation).
    pub(crate) async fn deploying(&self, content_id: i64) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.state.deploying.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(content_id).or_default().clone()
        };
        lock.lock_owned().await
    }
}
