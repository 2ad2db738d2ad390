//! The actor for one interactive item: owns its workers and its routing decisions.
//!
//! Concurrency: a single task processes messages in order, so routing state needs no
//! locks. Starting and stopping happen in sub-tasks (on the supervisor's task tracker) that
//! report back with messages (`Started`, `StartFailed`, `Exited`), so a slow start never
//! blocks routing for workers that are already up. After each message the actor publishes
//! its routable workers (`fast.rs`), so requests to ready workers are leased without it.
//! Connection counts and the time of the last one live in each worker's `Gate`, shared
//! with leases; a lease's drop messages the actor only for a draining worker or while
//! requests wait. Between messages the actor sleeps until the earliest deadline
//! ([`App::next_due`]): a waiter's timeout, an idle worker's idle timeout (re-checked
//! against its gate, as requests may have come and gone meanwhile), or indefinitely when
//! nothing is due (no worker).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::fast::{Shared, Slot, Snapshot};
use super::instance::{Gate, Instance, InstanceInfo, State};
use super::worker::Launcher;
use super::{AppDef, Lease, RouteError};
use crate::runner::{Control, LogFile, Process, SharedLog};

/// Messages to the actor.
pub(super) enum Msg {
    Acquire {
        affinity: Option<u64>,
        reply: oneshot::Sender<Result<Lease, RouteError>>,
    },
    Released {
        id: u64,
    },
    /// A new definition, and the change number the fast path waits for (`Shared::expect_change`).
    Install(Box<AppDef>, u64),
    Promote {
        def: Box<AppDef>,
        change: u64,
        reply: oneshot::Sender<Result<(), RouteError>>,
    },
    Started {
        id: u64,
        process: Process,
    },
    Ready {
        id: u64,
    },
    StartFailed {
        id: u64,
        message: String,
    },
    Exited {
        id: u64,
        status: String,
    },
    /// A ready worker failed its health check (memory over its limit, or no answer).
    Unhealthy {
        id: u64,
        reason: String,
    },
    Status {
        reply: oneshot::Sender<Vec<InstanceInfo>>,
    },
    Kill {
        id: u64,
        reply: oneshot::Sender<bool>,
    },
    Restart {
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    /// When the actor will next wake by itself (tests of the idle wake-ups).
    #[cfg(test)]
    NextDue {
        reply: oneshot::Sender<Option<tokio::time::Instant>>,
    },
}

/// A request waiting for a worker to become ready.
struct Waiter {
    affinity: Option<u64>,
    reply: oneshot::Sender<Result<Lease, RouteError>>,
    deadline: tokio::time::Instant,
}

/// The task watching one child: stop it by sending `true`; it ends when the child is gone.
struct Watcher {
    id: u64,
    stop: tokio::sync::watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

/// A version on trial: one worker of it is starting; it takes over only once ready.
struct Candidate {
    def: AppDef,
    worker: u64,
    reply: oneshot::Sender<Result<(), RouteError>>,
}

/// Recent crashes, for back-off.
#[derive(Default)]
struct Crashes {
    times: VecDeque<Instant>,
    last_lines: Vec<String>,
    last_message: String,
}

pub(super) struct App {
    def: AppDef,
    tx: mpsc::UnboundedSender<Msg>,
    /// The snapshot requests route by, and the mailbox.
    shared: Arc<Shared>,
    /// The last change (new definition) seen, published with the snapshot.
    change: u64,
    instances: Vec<Instance>,
    /// Child handles, by worker id (kept apart so `Instance` stays plain data).
    children: Vec<Watcher>,
    waiters: Vec<Waiter>,
    next_id: u64,
    log: SharedLog,
    grace: Duration,
    launcher: Arc<dyn Launcher>,
    tracker: TaskTracker,
    crashes: Crashes,
    backoff_until: Option<Instant>,
    /// Starts retried because the chosen port was taken (bounded; reset when one is ready).
    port_retries: u32,
    /// A new version being tried before it replaces the current one.
    candidate: Option<Candidate>,
}

impl App {
    pub(super) fn new(
        def: AppDef,
        shared: Arc<Shared>,
        logs_dir: &Path,
        grace: Duration,
        launcher: Arc<dyn Launcher>,
        tracker: TaskTracker,
    ) -> App {
        let log = LogFile::shared(logs_dir.join(format!("{}.log", def.guid)));
        App {
            launcher,
            tracker,
            def,
            tx: shared.tx.clone(),
            shared,
            change: 0,
            instances: Vec::new(),
            children: Vec::new(),
            waiters: Vec::new(),
            next_id: 1,
            log,
            grace,
            crashes: Crashes::default(),
            backoff_until: None,
            port_retries: 0,
            candidate: None,
        }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>, cancel: CancellationToken) {
        self.ensure_min();
        loop {
            self.publish();
            let due = self.next_due();
            let wake = async move {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = wake => self.on_tick(),
                msg = rx.recv() => match msg {
                    None => break,
                    Some(Msg::Shutdown { reply }) => {
                        self.stop_all().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(msg) => self.handle(msg).await,
                },
            }
        }
        self.stop_all().await;
    }

    async fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Acquire { affinity, reply } => self.on_acquire(affinity, reply),
            Msg::Released { id } => self.on_released(id),
            Msg::Install(def, change) => {
                self.change = change;
                self.on_install(*def);
            }
            Msg::Promote { def, change, reply } => {
                self.change = change;
                self.on_promote(*def, reply);
            }
            Msg::Started { id, process } => self.on_started(id, process),
            Msg::Ready { id } => self.on_ready(id),
            Msg::StartFailed { id, message } => self.on_start_failed(id, message).await,
            Msg::Exited { id, status } => self.on_exited(id, status).await,
            Msg::Unhealthy { id, reason } => self.on_unhealthy(id, reason).await,
            Msg::Status { reply } => {
                let _ = reply.send(self.instances.iter().map(Instance::info).collect());
            }
            Msg::Kill { id, reply } => {
                let found = self.instances.iter().find(|i| i.id == id);
                if let Some(inst) = found {
                    inst.kill();
                }
                let _ = reply.send(found.is_some());
            }
            Msg::Restart { reply } => {
                self.stop_all().await;
                self.crashes = Crashes::default();
                self.backoff_until = None;
                self.ensure_min();
                let _ = reply.send(());
            }
            Msg::Shutdown { .. } => {}
            #[cfg(test)]
            Msg::NextDue { reply } => {
                let _ = reply.send(self.next_due());
            }
        }
    }

    // ----- routing -----

    fn live(&self) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(|i| i.state == State::Ready && i.bundle_id == self.def.bundle_id)
    }

    fn starting(&self) -> usize {
        self.instances.iter().filter(|i| i.state == State::Starting && i.bundle_id == self.def.bundle_id).count()
    }

    /// Publishes the routable workers for the fast path (after every change).
    fn publish(&self) {
        let s = self.def.settings;
        let slots = self
            .instances
            .iter()
            .filter(|i| i.state != State::Starting && !i.stopping)
            .map(|i| Slot {
                id: i.id,
                port: i.spawn.port,
                prefix: i.spawn.prefix,
                live: i.state == State::Ready && i.bundle_id == self.def.bundle_id,
                gate: i.gate.clone(),
            })
            .collect();
        let snapshot = Snapshot {
            slots,
            max_conns: s.max_conns_per_process,
            load_factor: s.load_factor,
            can_grow: self.live().count() + self.starting() < s.max_processes,
            connection_timeout: s.connection_timeout,
            read_timeout: s.read_timeout,
            change: self.change,
            views: self.def.views.clone(),
        };
        self.shared.publish(snapshot, !self.waiters.is_empty());
    }

    /// A lease on `inst` if its gate lets one more in (`max` connections at most).
    fn lease(&self, inst: &Instance, max: usize) -> Option<Lease> {
        inst.gate.enter(max).then(|| Lease {
            instance: inst.id,
            port: inst.spawn.port,
            prefix: inst.spawn.prefix,
            connection_timeout: self.def.settings.connection_timeout,
            read_timeout: self.def.settings.read_timeout,
            gate: inst.gate.clone(),
            app: self.shared.clone(),
            _view: self.def.views.as_ref().map(crate::zygote::Views::begin),
        })
    }

    /// Picks a worker for a new connection, or `None` when the caller must wait/fail.
    fn pick(&self, affinity: Option<u64>) -> Option<Lease> {
        let max = self.def.settings.max_conns_per_process;
        // A session stays on its worker, even one that is draining after a redeploy.
        if let Some(id) = affinity {
            if let Some(inst) = self.instances.iter().find(|i| i.id == id && i.state != State::Starting && !i.stopping)
            {
                if let Some(lease) = self.lease(inst, usize::MAX) {
                    return Some(lease);
                }
            }
        }
        let mut live: Vec<&Instance> = self.live().filter(|i| i.connections() < max).collect();
        live.sort_by_key(|i| i.connections());
        live.into_iter().find_map(|i| self.lease(i, max))
    }

    fn on_acquire(&mut self, affinity: Option<u64>, reply: oneshot::Sender<Result<Lease, RouteError>>) {
        let s = self.def.settings;
        let live = self.live().count();
        let total: usize = self.live().map(Instance::connections).sum();
        // Proactive spawn when utilisation after admitting this connection exceeds the load factor.
        if live > 0 {
            let u = (total + 1) as f64 / (live * s.max_conns_per_process.max(1)) as f64;
            if u > s.load_factor && live + self.starting() < s.max_processes {
                self.start_one();
            }
        }
        if let Some(lease) = self.pick(affinity) {
            let _ = reply.send(Ok(lease));
            return;
        }
        if let Some(until) = self.backoff_until {
            if Instant::now() < until {
                let _ = reply.send(Err(RouteError::StartFailed {
                    message: format!(
                        "it crashed repeatedly; Porch will try again shortly ({})",
                        self.crashes.last_message
                    ),
                    last_lines: self.crashes.last_lines.clone(),
                }));
                return;
            }
        }
        if self.starting() == 0 {
            if live + self.starting() >= s.max_processes {
                let _ = reply.send(Err(RouteError::AtCapacity(live)));
                return;
            }
            self.start_one();
        }
        let deadline = tokio::time::Instant::now() + s.init_timeout;
        self.waiters.push(Waiter { affinity, reply, deadline });
    }

    fn serve_waiters(&mut self) {
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            if w.reply.is_closed() {
                continue;
            }
            match self.pick(w.affinity) {
                Some(lease) => {
                    let _ = w.reply.send(Ok(lease));
                }
                None => self.waiters.push(w),
            }
        }
        // Still waiting and nothing starting: start another if allowed, else refuse.
        if !self.waiters.is_empty() && self.starting() == 0 {
            if self.live().count() < self.def.settings.max_processes {
                self.start_one();
            } else {
                for w in std::mem::take(&mut self.waiters) {
                    let _ = w.reply.send(Err(RouteError::AtCapacity(self.live().count())));
                }
            }
        }
    }

    /// A connection ended on a worker the actor watches (draining), or while requests
    /// wait; when it ended is in the worker's gate.
    fn on_released(&mut self, _id: u64) {
        self.serve_waiters();
    }

    // ----- lifecycle -----

    fn start_one(&mut self) {
        let def = self.def.clone();
        if let Err(e) = self.start_worker(&def) {
            self.fail_waiters(e, Vec::new());
        }
    }

    /// Starts one worker of `def` (the current version or a candidate); returns its id.
    fn start_worker(&mut self, def: &AppDef) -> Result<u64, String> {
        let id = self.next_id;
        self.next_id += 1;
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let spawn = (def.factory)(port)?;
        let probe = CancellationToken::new();
        self.instances.push(Instance {
            probe: probe.clone(),
            id,
            pid: 0,
            bundle_id: def.bundle_id,
            spawn: spawn.clone(),
            state: State::Starting,
            stopping: false,
            gate: Arc::new(Gate::new()),
            started: Instant::now(),
            control: None,
            tail: None,
        });
        let (tx, log, guid, init) = (self.tx.clone(), self.log.clone(), def.guid.clone(), def.settings.init_timeout);
        let launcher = self.launcher.clone();
        self.tracker.spawn(async move {
            let process = match launcher.start(&spawn, &guid, log).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Msg::StartFailed { id, message: cannot_run(&spawn.program, &e) });
                    return;
                }
            };
            let _ = tx.send(Msg::Started { id, process });
            let deadline = tokio::time::Instant::now() + init;
            loop {
                if tx.is_closed() || probe.is_cancelled() {
                    return;
                }
                let status = launcher.probe(&spawn).await.unwrap_or(0);
                if status > 0 && (spawn.ready_on_any_status || status < 500) {
                    let _ = tx.send(Msg::Ready { id });
                    return;
                }
                if tokio::time::Instant::now() >= deadline {
                    let _ = tx.send(Msg::StartFailed { id, message: format!("it did not answer within {init:?}") });
                    return;
                }
                tokio::select! {
                    _ = probe.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        });
        Ok(id)
    }

    fn on_started(&mut self, id: u64, process: Process) {
        let grace = self.grace;
        let Some(inst) = self.instances.iter_mut().find(|i| i.id == id) else {
            // Stopped while starting.
            self.tracker.spawn(async move { process.stop(grace).await });
            return;
        };
        inst.pid = process.pid();
        inst.control = Some(process.control());
        inst.tail = Some(process.tail_handle());
        tracing::info!(app = %self.def.guid, worker = id, pid = inst.pid, "worker started");
        let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
        let tx = self.tx.clone();
        let done = self.tracker.spawn(async move {
            let status = tokio::select! {
                exit = process.exited() => exit.to_string(),
                _ = stop_rx.changed() => {
                    process.stop(grace).await;
                    "stopped".to_string()
                }
            };
            // Let its last output land in the tail before the exit is judged.
            process.output_closed(Duration::from_millis(500)).await;
            let _ = tx.send(Msg::Exited { id, status });
        });
        self.children.push(Watcher { id, stop, done });
    }

    fn on_ready(&mut self, id: u64) {
        if self.candidate.as_ref().is_some_and(|c| c.worker == id) {
            self.promote_candidate();
        }
        if let Some(inst) = self.instances.iter_mut().find(|i| i.id == id && i.state == State::Starting) {
            inst.state = State::Ready;
            inst.gate.touch();
            tracing::info!(app = %self.def.guid, worker = id, "worker ready");
            self.port_retries = 0;
            let s = self.def.settings;
            if let (true, Some(control)) = (s.memory_limit > 0 || !s.hang_timeout.is_zero(), inst.control.clone()) {
                let check = Health {
                    id,
                    control,
                    spawn: inst.spawn.clone(),
                    memory_limit: s.memory_limit,
                    hang_timeout: s.hang_timeout,
                    launcher: self.launcher.clone(),
                };
                self.tracker.spawn(check.run(self.tx.clone(), inst.probe.clone()));
            }
        }
        self.serve_waiters();
    }

    async fn on_start_failed(&mut self, id: u64, message: String) {
        // A worker that already exited was dealt with in `on_exited`.
        if !self.instances.iter().any(|i| i.id == id && i.state == State::Starting) {
            return;
        }
        let lines = self.instances.iter().find(|i| i.id == id).map(Instance::last_lines).unwrap_or_default();
        if self.candidate.as_ref().is_some_and(|c| c.worker == id) {
            self.stop_worker(id);
            return self.reject_candidate(message, lines);
        }
        tracing::warn!(app = %self.def.guid, worker = id, "{message}");
        let pid = self.instances.iter().find(|i| i.id == id).map_or(0, |i| i.pid);
        self.log_line(&format!("[porch] process {pid} did not start: {message}")).await;
        self.stop_worker(id);
        self.record_crash(&message, lines.clone()).await;
        self.fail_waiters(message, lines);
    }

    /// A line of Porch's own in the item's log, where the publisher looks (the viewer's
    /// error page sends them there).
    async fn log_line(&self, line: &str) {
        self.log.lock().await.write(line).await;
    }

    async fn on_exited(&mut self, id: u64, status: String) {
        let Some(pos) = self.instances.iter().position(|i| i.id == id) else { return };
        let inst = self.instances.remove(pos);
        inst.probe.cancel();
        self.children.retain(|w| w.id != id);
        if self.candidate.as_ref().is_some_and(|c| c.worker == id) {
            // The trial worker died before it was ready: the current version stays.
            let message = format!("the process exited ({status})");
            self.reject_candidate(message, inst.last_lines());
            self.serve_waiters();
            return;
        }
        if status != "stopped" {
            let lines = inst.last_lines();
            // The port was free when Porch picked it but taken before the app bound it:
            // not the app's fault; try again on another port.
            let lost_port = inst.state == State::Starting
                && lines.iter().any(|l| l.to_ascii_lowercase().contains("address already in use"));
            if lost_port && !self.waiters.is_empty() && self.port_retries < 3 {
                self.port_retries += 1;
                tracing::info!(app = %self.def.guid, worker = id, "port taken before the app bound it; retrying");
                self.start_one();
                return;
            }
            tracing::warn!(app = %self.def.guid, worker = id, %status, "worker exited unexpectedly");
            self.log_line(&format!("[porch] process {} exited unexpectedly ({status})", inst.pid)).await;
            let msg = format!("the process exited ({status})");
            self.record_crash(&msg, lines.clone()).await;
            if inst.state == State::Starting {
                self.fail_waiters(msg, lines);
            }
        }
        self.ensure_min();
        self.serve_waiters();
    }

    /// Replaces a worker that leaks or hangs: it is stopped (SIGTERM, grace, SIGKILL to
    /// its group) and counted as a crash; the next request or `min_processes` starts a
    /// fresh one.
    async fn on_unhealthy(&mut self, id: u64, reason: String) {
        let Some(inst) = self.instances.iter().find(|i| i.id == id && i.state != State::Starting) else { return };
        let (pid, lines) = (inst.pid, inst.last_lines());
        tracing::warn!(app = %self.def.guid, worker = id, pid, "replacing the worker: {reason}");
        self.log_line(&format!("[porch] process {pid} stopped and replaced: {reason}")).await;
        self.record_crash(&reason, lines).await;
        self.stop_worker(id);
        self.ensure_min();
    }

    async fn record_crash(&mut self, message: &str, lines: Vec<String>) {
        let now = Instant::now();
        self.crashes.times.push_back(now);
        while self.crashes.times.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(30)) {
            self.crashes.times.pop_front();
        }
        self.crashes.last_lines = lines;
        self.crashes.last_message = message.to_string();
        // Three crashes within 30 s: wait before starting again, doubling up to a minute.
        // Viewers meanwhile get the error page, and `min_processes` waits too.
        if self.crashes.times.len() >= 3 {
            let n = self.crashes.times.len() as u32 - 2;
            let wait = Duration::from_secs(2u64.saturating_pow(n).min(60));
            self.backoff_until = Some(now + wait);
            let times = self.crashes.times.len();
            self.log_line(&format!(
                "[porch] it failed {times} times within 30 s; Porch starts it again in {} s at the earliest",
                wait.as_secs()
            ))
            .await;
        }
    }

    /// Whether starts wait for a back-off after repeated crashes.
    fn backing_off(&self) -> bool {
        self.backoff_until.is_some_and(|until| Instant::now() < until)
    }

    fn fail_waiters(&mut self, message: String, last_lines: Vec<String>) {
        for w in std::mem::take(&mut self.waiters) {
            let _ =
                w.reply.send(Err(RouteError::StartFailed { message: message.clone(), last_lines: last_lines.clone() }));
        }
    }

    fn on_install(&mut self, def: AppDef) {
        let new_bundle = def.bundle_id != self.def.bundle_id;
        self.def = def;
        if new_bundle {
            // Blue/green: old workers take no new sessions and stop once idle.
            for inst in &mut self.instances {
                if inst.bundle_id != self.def.bundle_id && inst.state != State::Draining {
                    inst.state = State::Draining;
                    // Its last connection's end is what lets it stop.
                    inst.gate.watch();
                }
            }
        }
        self.ensure_min();
    }

    /// Tries `def` before it replaces the current version: one worker of it must become
    /// ready first. Until then viewers stay on the current workers; if it fails, they
    /// never notice. The reply says which.
    fn on_promote(&mut self, def: AppDef, reply: oneshot::Sender<Result<(), RouteError>>) {
        if let Some(old) = self.candidate.take() {
            self.stop_worker(old.worker);
            let _ = old.reply.send(Err(RouteError::StartFailed {
                message: "superseded by a newer version".into(),
                last_lines: Vec::new(),
            }));
        }
        match self.start_worker(&def) {
            Ok(worker) => self.candidate = Some(Candidate { def, worker, reply }),
            Err(message) => {
                let _ = reply.send(Err(RouteError::StartFailed { message, last_lines: Vec::new() }));
            }
        }
    }

    fn promote_candidate(&mut self) {
        let Some(c) = self.candidate.take() else { return };
        tracing::info!(app = %self.def.guid, bundle = c.def.bundle_id, worker = c.worker, "new version ready; switching");
        // A clean slate for the new version: its crash history starts now.
        self.crashes = Crashes::default();
        self.backoff_until = None;
        self.on_install(c.def);
        // Requests after the caller hears of the switch must see the new version.
        self.publish();
        let _ = c.reply.send(Ok(()));
    }

    fn reject_candidate(&mut self, message: String, last_lines: Vec<String>) {
        let Some(c) = self.candidate.take() else { return };
        tracing::warn!(app = %self.def.guid, bundle = c.def.bundle_id, "new version failed to start; keeping the current one: {message}");
        let _ = c.reply.send(Err(RouteError::StartFailed { message, last_lines }));
    }

    /// The workers `min_processes` keeps, started now unless crashes put starts off (then
    /// [`App::next_due`] names the end of the back-off and [`App::on_tick`] comes back).
    fn ensure_min(&mut self) {
        if self.backing_off() {
            return;
        }
        for _ in self.running()..self.wanted() {
            self.start_one();
        }
    }

    /// Workers of the current version, ready or starting.
    fn running(&self) -> usize {
        self.live().count() + self.starting()
    }

    /// How many workers `min_processes` keeps.
    fn wanted(&self) -> usize {
        self.def.settings.min_processes.min(self.def.settings.max_processes)
    }

    fn on_tick(&mut self) {
        let now = tokio::time::Instant::now();
        // Waiters past their deadline get a start timeout.
        let (expired, kept): (Vec<Waiter>, Vec<Waiter>) =
            std::mem::take(&mut self.waiters).into_iter().partition(|w| now >= w.deadline);
        self.waiters = kept;
        for w in expired {
            let _ = w.reply.send(Err(RouteError::StartTimeout(self.def.settings.init_timeout)));
        }
        let s = self.def.settings;
        let mut live = self.live().count();
        let mut to_stop = Vec::new();
        for inst in &self.instances {
            if inst.connections() > 0 || inst.stopping {
                continue;
            }
            let idle_for = now.saturating_duration_since(inst.idle_since());
            match inst.state {
                State::Draining => to_stop.push(inst.id),
                State::Ready
                    if idle_for >= s.idle_timeout
                        && (inst.bundle_id != self.def.bundle_id || live > s.min_processes) =>
                {
                    to_stop.push(inst.id);
                    if inst.bundle_id == self.def.bundle_id {
                        live -= 1;
                    }
                }
                _ => {}
            }
        }
        for id in to_stop {
            // Shut its door first; a request that entered meanwhile keeps it running.
            if !self.instances.iter().find(|i| i.id == id).is_some_and(|i| i.gate.close_if_idle()) {
                continue;
            }
            tracing::info!(app = %self.def.guid, worker = id, "stopping idle worker");
            self.stop_worker(id);
        }
        // A back-off that has ended: the workers `min_processes` keeps start again.
        self.ensure_min();
    }

    /// When the actor next has something to do without a message: the earliest waiter's
    /// init timeout, an idle worker's idle timeout, or now for a drained worker to stop.
    /// A worker that may stop when idle but has connections now is looked at again one
    /// idle timeout later: its requests do not message the actor, so that is when it could
    /// first be idle long enough. `None` when nothing is due (no worker, or only those kept
    /// by `min_processes`). It must only name instants at which [`App::on_tick`] acts or
    /// that lie ahead, or the actor would spin.
    fn next_due(&self) -> Option<tokio::time::Instant> {
        let now = tokio::time::Instant::now();
        let s = self.def.settings;
        let live = self.live().count();
        let waiters = self.waiters.iter().map(|w| w.deadline).min();
        let workers = self
            .instances
            .iter()
            .filter(|i| !i.stopping)
            .filter_map(|i| match (i.state, i.connections()) {
                // A draining worker's connections are watched: each end is a message.
                (State::Draining, 0) => Some(now),
                (State::Ready, n) if i.bundle_id != self.def.bundle_id || live > s.min_processes => {
                    Some(if n == 0 { i.idle_since() + s.idle_timeout } else { now + s.idle_timeout })
                }
                _ => None,
            })
            .min();
        // The end of a back-off that keeps `min_processes` workers from starting.
        let restart = self
            .backoff_until
            .filter(|_| self.running() < self.wanted())
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .map(|left| now + left);
        waiters.into_iter().chain(workers).chain(restart).min()
    }

    /// Marks a worker draining and signals its watcher to stop it.
    fn stop_worker(&mut self, id: u64) {
        if let Some(inst) = self.instances.iter_mut().find(|i| i.id == id) {
            inst.gate.close();
            inst.state = State::Draining;
            inst.stopping = true;
            inst.probe.cancel();
        }
        match self.children.iter().find(|w| w.id == id) {
            Some(w) => {
                let _ = w.stop.send(true);
            }
            None => {
                // Not spawned yet (or failed before): just forget it.
                self.instances.retain(|i| i.id != id);
            }
        }
    }

    async fn stop_all(&mut self) {
        self.fail_waiters("the app is stopping".into(), Vec::new());
        for inst in &self.instances {
            inst.gate.close();
        }
        for w in &self.children {
            let _ = w.stop.send(true);
        }
        // Each watcher ends once its child is gone (SIGTERM, grace, SIGKILL).
        let watchers = std::mem::take(&mut self.children);
        let limit = self.grace + Duration::from_secs(2);
        for w in watchers {
            if tokio::time::timeout(limit, w.done).await.is_err() {
                tracing::warn!(app = %self.def.guid, worker = w.id, "worker did not stop in time");
            }
        }
        // Workers that never got a process (still spawning) are simply forgotten; their
        // start task sees the closed channel or its `Started` finds no record and stops it.
        self.instances.clear();
    }
}

/// How often a ready worker's memory and health are checked.
const HEALTH_EVERY: Duration = Duration::from_secs(2);

/// The health check of one ready worker; ends when the worker is stopped (its probe token).
struct Health {
    id: u64,
    control: Arc<dyn Control>,
    spawn: super::Spawn,
    memory_limit: u64,
    hang_timeout: Duration,
    launcher: Arc<dyn Launcher>,
}

impl Health {
    async fn run(self, tx: mpsc::UnboundedSender<Msg>, stop: CancellationToken) {
        const MIB: u64 = 1024 * 1024;
        let mut answered = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(HEALTH_EVERY) => {}
            }
            if tx.is_closed() {
                return;
            }
            if self.memory_limit > 0 {
                let control = self.control.clone();
                let rss = tokio::task::spawn_blocking(move || control.rss()).await.unwrap_or(0);
                if rss > self.memory_limit {
                    let reason = format!(
                        "it used {} MiB of memory, over its limit of {} MiB (memory_limit)",
                        rss / MIB,
                        self.memory_limit / MIB
                    );
                    let _ = tx.send(Msg::Unhealthy { id: self.id, reason });
                    return;
                }
            }
            if !self.hang_timeout.is_zero() {
                // Any HTTP answer counts: an app answering errors is alive, not hung.
                let wait = self.hang_timeout.min(Duration::from_secs(10));
                let probe = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = tokio::time::timeout(wait, self.launcher.probe(&self.spawn)) => r,
                };
                if matches!(probe, Ok(Some(_))) {
                    answered = tokio::time::Instant::now();
                } else if answered.elapsed() >= self.hang_timeout {
                    let reason = format!(
                        "it did not answer its health check ({}) for {} (porch serve --app-hang-timeout)",
                        self.spawn.readiness_path,
                        crate::time::human_duration(self.hang_timeout)
                    );
                    let _ = tx.send(Msg::Unhealthy { id: self.id, reason });
                    return;
                }
            }
        }
    }
}

/// A free loopback port, found by binding port 0. The port is closed again before the
/// child binds it; a lost race shows up as a start failure and the next start retries.
fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(l.local_addr()?.port())
}

/// Why a worker's program could not be run. A program missing from a Python environment's
/// `bin` is a package the app's requirements do not list (`streamlit` without
/// `requirements.txt`): the message says so.
fn cannot_run(program: &std::path::Path, e: &dyn std::fmt::Display) -> String {
    let in_env = program.parent().is_some_and(|bin| bin.ends_with("bin") && bin.join("python").exists());
    match program.file_name().map(|n| n.to_string_lossy()) {
        Some(name) if in_env && !program.exists() => format!(
            "{name} is not installed in the app's environment; list it in requirements.txt (cannot run {})",
            program.display()
        ),
        _ => format!("cannot run {}: {e}", program.display()),
    }
}
