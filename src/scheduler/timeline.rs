//! The week ahead: every upcoming fire of every task that will fire, counted per minute over
//! the next 24 hours or per hour over the next 7 days ([`Scheduler::timeline`]), the busiest
//! slots, the minutes where many tasks start together, and the tasks of one slot.
//!
//! Fires are worked out from each task's trigger, never enumerated one by one where that can
//! be avoided: an interval shorter than a slot is counted per slot arithmetically, an
//! interval as long or longer places each of its (at most one per slot) fires, and a cron
//! expression's fires are found a minute at a time (its seconds are the same in every minute
//! it fires in), once per count for each expression and zone, and shared by every task that
//! has it. So an interval costs at most one step per slot, and a cron expression one search
//! per minute it fires in.
//!
//! The tasks are read from the store once and kept (`Plan`) until the schedule changes: a
//! task added, changed, removed, paused or resumed on any replica (the events every process
//! with a started scheduler hears) brings the kept plan up to date; a process whose scheduler
//! does not relay the store's notices (a dashboard whose scheduler is not started) reads
//! them itself, and with a store that sends none reads the plan again each minute. Each
//! answer is kept for the minute it was counted in.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::store::TaskRecord;
use super::trigger::{Shape, TriggerKind};

/// Most minutes shown as pile-ups.
const MOST_PILEUPS: usize = 20;
/// Most slots listed as the busiest.
const MOST_BUSIEST: usize = 10;
/// Most tasks listed for one slot.
pub const MOST_SLOT_TASKS: usize = 200;
/// A minute where at least this many tasks start is a pile-up, when it is also well above the
/// average (see [`Timeline::pileups`]).
pub const PILEUP_TASKS: u32 = 10;

/// How far ahead, and in what slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimelineWindow {
    /// The next 24 hours, per minute.
    #[default]
    #[serde(rename = "24h")]
    Day,
    /// The next 7 days, per hour.
    #[serde(rename = "7d")]
    Week,
}

impl TimelineWindow {
    /// `24h` or `7d`.
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineWindow::Day => "24h",
            TimelineWindow::Week => "7d",
        }
    }

    /// `24h` or `7d`.
    pub fn parse(s: &str) -> Option<TimelineWindow> {
        match s {
            "24h" => Some(TimelineWindow::Day),
            "7d" => Some(TimelineWindow::Week),
            _ => None,
        }
    }

    /// A slot's length in seconds: 60 or 3,600.
    pub fn step_secs(self) -> i64 {
        match self {
            TimelineWindow::Day => 60,
            TimelineWindow::Week => 3600,
        }
    }

    /// How many slots: 1,440 or 168.
    pub fn slots(self) -> usize {
        match self {
            TimelineWindow::Day => 1440,
            TimelineWindow::Week => 168,
        }
    }
}

/// Which tasks a timeline counts: the window, and the tasks list's filters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TimelineQuery {
    /// 24 hours per minute, or 7 days per hour.
    pub window: TimelineWindow,
    /// Only this job's tasks.
    pub job: Option<String>,
    /// Only tasks with this kind of trigger.
    pub trigger: Option<TriggerKind>,
    /// Only tasks whose id, name or job contains this (case-insensitive).
    pub q: Option<String>,
}

/// One slot: when it begins, the fires in it and how many tasks they are from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Its start.
    #[serde(serialize_with = "super::text::timestamp")]
    pub at: Timestamp,
    /// Fires in it.
    pub fires: u32,
    /// Tasks that fire in it.
    pub tasks: u32,
}

/// Upcoming fires over a window, per slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The window.
    pub window: TimelineWindow,
    /// The first slot's start (the current minute, or hour).
    #[serde(serialize_with = "super::text::timestamp")]
    pub start: Timestamp,
    /// Fires are counted from here (the current minute's start) to the end of the last slot.
    #[serde(serialize_with = "super::text::timestamp")]
    pub from: Timestamp,
    /// A slot's length in seconds.
    pub step_secs: i64,
    /// Fires per slot, in order.
    pub fires: Vec<u32>,
    /// Tasks firing per slot, in order.
    pub tasks: Vec<u32>,
    /// Fires in the window.
    pub total_fires: u64,
    /// Tasks counted (those that will fire and match the filters).
    pub tasks_counted: u64,
    /// Of those, the tasks with at least one fire in the window.
    pub tasks_firing: u64,
    /// The slots with the most fires (ties: the earlier first), at most 10.
    pub busiest: Vec<Slot>,
    /// Minutes where many tasks start together (24-hour window only; see [`PILEUP_TASKS`]),
    /// most tasks first, at most 20.
    pub pileups: Vec<Slot>,
}

impl Timeline {
    /// The slot that holds `t`, if the window does.
    pub fn slot_of(&self, t: Timestamp) -> Option<usize> {
        let at = t.as_second() - self.start.as_second();
        (at >= 0)
            .then(|| (at / self.step_secs) as usize)
            .filter(|&i| i < self.fires.len())
    }

    /// The slot at index `i`.
    pub fn slot(&self, i: usize) -> Slot {
        Slot {
            at: Timestamp::from_second(self.start.as_second() + i as i64 * self.step_secs)
                .unwrap_or(self.start),
            fires: self.fires[i],
            tasks: self.tasks[i],
        }
    }
}

/// One task of a slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotTask {
    /// The task.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its job.
    pub job: String,
    /// Its fires in the slot.
    pub fires: u32,
    /// The first of them.
    #[serde(serialize_with = "super::text::timestamp")]
    pub first: Timestamp,
}

/// The tasks that fire in one slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotTasks {
    /// The slot's start.
    #[serde(serialize_with = "super::text::timestamp")]
    pub at: Timestamp,
    /// Its length in seconds.
    pub step_secs: i64,
    /// How many tasks fire in it.
    pub total: u64,
    /// The tasks with the most fires there first, then by id; at most 200.
    pub tasks: Vec<SlotTask>,
}

/// A task as the timeline needs it: what says when it fires, and what it is found by (not
/// its args, which can be large).
#[derive(Debug)]
pub(crate) struct Planned {
    id: Box<str>,
    name: Box<str>,
    job: Box<str>,
    trigger: super::trigger::Trigger,
    anchor: Timestamp,
    /// Lower-cased "id\nname\njob", for `q`.
    haystack: Box<str>,
}

impl Planned {
    /// The task, if it will fire (not paused, with a next fire).
    fn of(rec: TaskRecord) -> Option<Arc<Planned>> {
        (!rec.task.paused && rec.next_fire.is_some()).then(|| {
            Arc::new(Planned {
                id: rec.task.id.as_str().into(),
                name: rec.task.name.as_str().into(),
                job: rec.task.job.as_str().into(),
                haystack: super::index::haystack(&rec.task),
                trigger: rec.trigger,
                anchor: rec.anchor,
            })
        })
    }

    fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        self.trigger.next_after(t, self.anchor)
    }
}

/// Every task that will fire, read from the store, by id: cheap to copy (counted pointers)
/// and to bring up to date task by task.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan(HashMap<Arc<str>, Arc<Planned>>);

/// True for the events that change what will fire.
fn changes_schedule(e: &super::Event) -> bool {
    matches!(
        e,
        super::Event::TaskAdded { .. }
            | super::Event::TaskUpdated { .. }
            | super::Event::TaskRemoved { .. }
            | super::Event::TaskPaused { .. }
            | super::Event::TaskResumed { .. }
    )
}

/// A cron expression's fires per slot, by expression and zone: found once per count and
/// shared by every task that has it.
type CronSlots = HashMap<(usize, String), Vec<(usize, u32)>>;

impl Plan {
    pub(crate) fn new(records: Vec<TaskRecord>) -> Plan {
        Plan(
            records
                .into_iter()
                .filter_map(Planned::of)
                .map(|p| (Arc::from(&*p.id), p))
                .collect(),
        )
    }

    /// This plan with the tasks `ids` as the store now has them (`None`: gone).
    fn patched(&self, now: Vec<(String, Option<TaskRecord>)>) -> Plan {
        let mut plan = self.clone();
        for (id, rec) in now {
            match rec.and_then(Planned::of) {
                Some(p) => {
                    plan.0.insert(Arc::from(id.as_str()), p);
                }
                None => {
                    plan.0.remove(id.as_str());
                }
            }
        }
        plan
    }

    fn matching<'a>(&'a self, q: &'a TimelineQuery) -> impl Iterator<Item = &'a Planned> {
        let needle =
            q.q.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_lowercase);
        self.0
            .values()
            .filter(move |p| {
                q.job.as_deref().is_none_or(|j| &*p.job == j)
                    && q.trigger.is_none_or(|k| p.trigger.kind() == k)
                    && needle.as_deref().is_none_or(|n| p.haystack.contains(n))
            })
            .map(|p| &**p)
    }

    /// Counts the fires of the tasks `q` picks, over its window as seen at `now`.
    pub(crate) fn timeline(&self, q: &TimelineQuery, now: Timestamp) -> Timeline {
        let frame = Frame::new(q.window, now);
        let n = frame.slots;
        let picked: Vec<&Planned> = self.matching(q).collect();
        // Each cron expression's fires, once, before the tasks are shared out.
        let mut crons: CronSlots = HashMap::new();
        for p in &picked {
            if let Shape::Cron(key) = p.trigger.shape() {
                crons.entry(key).or_insert_with(|| frame.cron_slots(p));
            }
        }
        // Counted on every core, each over its share of the tasks, then added up.
        let cores = std::thread::available_parallelism()
            .map_or(1, |c| c.get())
            .clamp(1, 8);
        let share = picked.len().div_ceil(cores).max(1);
        let parts: Vec<Counts> = std::thread::scope(|scope| {
            let counting: Vec<_> = picked
                .chunks(share)
                .map(|part| {
                    let crons = &crons;
                    scope.spawn(move || Counts::of(part, &frame, crons))
                })
                .collect();
            counting
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let (mut fires, mut tasks) = (vec![0u32; n], vec![0u32; n]);
        let (mut counted, mut firing) = (0u64, 0u64);
        for part in parts {
            for (all, one) in fires.iter_mut().zip(&part.fires) {
                *all = all.saturating_add(*one);
            }
            for (all, one) in tasks.iter_mut().zip(&part.tasks) {
                *all = all.saturating_add(*one);
            }
            counted += part.alive;
            firing += part.firing;
        }
        let total_fires = fires.iter().map(|&f| u64::from(f)).sum();
        let mut t = Timeline {
            window: q.window,
            start: frame.start_ts(),
            from: frame.counted_from(),
            step_secs: q.window.step_secs(),
            fires,
            tasks,
            total_fires,
            tasks_counted: counted,
            tasks_firing: firing,
            busiest: Vec::new(),
            pileups: Vec::new(),
        };
        let mut order: Vec<usize> = (0..n).filter(|&i| t.fires[i] > 0).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(t.fires[i]), i));
        t.busiest = order
            .iter()
            .take(MOST_BUSIEST)
            .map(|&i| t.slot(i))
            .collect();
        if q.window == TimelineWindow::Day {
            // A pile-up: at least PILEUP_TASKS tasks starting in one minute, and four times
            // the minutes' average, so that a schedule busy all the time flags nothing.
            let mean = t.tasks.iter().map(|&k| u64::from(k)).sum::<u64>() / n as u64;
            let bar = PILEUP_TASKS.max(u32::try_from(mean * 4).unwrap_or(u32::MAX));
            let mut piles: Vec<usize> = (0..n).filter(|&i| t.tasks[i] >= bar).collect();
            piles.sort_by_key(|&i| (std::cmp::Reverse(t.tasks[i]), i));
            t.pileups = piles
                .iter()
                .take(MOST_PILEUPS)
                .map(|&i| t.slot(i))
                .collect();
        }
        t
    }

    /// The tasks `q` picks that fire in the slot of its window holding `at`.
    pub(crate) fn slot_tasks(
        &self,
        q: &TimelineQuery,
        at: Timestamp,
        now: Timestamp,
    ) -> Option<SlotTasks> {
        let whole = Frame::new(q.window, now);
        let slot = usize::try_from((at.as_nanosecond() - whole.start) / whole.step).ok()?;
        if at.as_nanosecond() < whole.start || slot >= whole.slots {
            return None;
        }
        // The same counting, over that one slot.
        let one = Frame {
            start: whole.start + slot as i128 * whole.step,
            from: whole.from.max(whole.start + slot as i128 * whole.step),
            slots: 1,
            ..whole
        };
        let mut crons: CronSlots = HashMap::new();
        let mut out = Vec::new();
        for p in self.matching(q) {
            let mut fires = 0u32;
            match p.trigger.shape() {
                Shape::Cron(key) => {
                    let per = crons.entry(key).or_insert_with(|| one.cron_slots(p));
                    fires = per.iter().map(|&(_, k)| k).sum();
                }
                _ => one.for_each_slot(p, &mut |_, k| fires = fires.saturating_add(k)),
            }
            if fires > 0 {
                let first = p
                    .next_after(ts(one.from - 1))
                    .unwrap_or_else(|| ts(one.from));
                out.push(SlotTask {
                    id: p.id.to_string(),
                    name: p.name.to_string(),
                    job: p.job.to_string(),
                    fires,
                    first,
                });
            }
        }
        let total = out.len() as u64;
        out.sort_by(|a, b| b.fires.cmp(&a.fires).then_with(|| a.id.cmp(&b.id)));
        out.truncate(MOST_SLOT_TASKS);
        Some(SlotTasks {
            at: ts(one.start),
            step_secs: q.window.step_secs(),
            total,
            tasks: out,
        })
    }
}

/// Fires and tasks per slot of some tasks.
struct Counts {
    fires: Vec<u32>,
    tasks: Vec<u32>,
    /// Tasks with a fire from the window's start on (in it or after it).
    alive: u64,
    /// Tasks with a fire in the window.
    firing: u64,
}

impl Counts {
    fn of(picked: &[&Planned], frame: &Frame, crons: &CronSlots) -> Counts {
        let n = frame.slots;
        let (mut fires, mut tasks) = (vec![0u32; n], vec![0u32; n]);
        let (mut alive, mut firing) = (0u64, 0u64);
        for p in picked {
            let mut any = false;
            let mut add = |slot: usize, k: u32| {
                fires[slot] = fires[slot].saturating_add(k);
                tasks[slot] += 1;
                any = true;
            };
            match p.trigger.shape() {
                Shape::Cron(key) => {
                    if let Some(per_slot) = crons.get(&key) {
                        per_slot.iter().for_each(|&(s, k)| add(s, k));
                    }
                }
                _ => frame.for_each_slot(p, &mut add),
            }
            firing += u64::from(any);
            // A task that fired its last (a date past, an interval past its end) still
            // sits in the plan until it is read again: not counted.
            alive += u64::from(any || p.next_after(ts(frame.from - 1)).is_some());
        }
        Counts {
            fires,
            tasks,
            alive,
            firing,
        }
    }
}

/// What the scheduler keeps for the timeline: the plan, read at a schedule generation, and
/// answers per query, each for the minute it was counted in.
#[derive(Default)]
pub(crate) struct Kept {
    /// Held while the plan is read, so that one reader reads it and the others wait. With the
    /// generation it is as of.
    plan: tokio::sync::Mutex<Option<(u64, Arc<Plan>)>>,
    /// Where a process that relays no notices (its scheduler not started) hears of changes
    /// itself: the store's notices, subscribed to before the plan is first read.
    heard: std::sync::Mutex<Heard>,
    answers: std::sync::Mutex<HashMap<TimelineQuery, KeptAnswer>>,
    /// Held while an answer is counted (by the counting itself, which a request that goes
    /// away does not stop): requests of a new minute wait for the one counting rather than
    /// all count at once.
    counting: Arc<tokio::sync::Mutex<()>>,
}

/// What a process that relays no notices hears of the schedule itself.
#[derive(Default)]
pub(crate) struct Heard {
    subscribed: bool,
    rx: Option<tokio::sync::broadcast::Receiver<super::store::Notice>>,
    /// With a store that sends no notices: the minute the schedule was last taken as changed.
    minute: Option<i64>,
}

/// An answer, with the schedule generation and the minute it was counted at.
type KeptAnswer = (u64, i64, Arc<Timeline>);

/// Most answers kept; past it the oldest is dropped.
const MOST_KEPT: usize = 64;

/// Most changed tasks read one by one to bring the plan up to date; past it the plan is read
/// whole.
const MOST_PATCHED: usize = 256;

impl Kept {
    /// The plan as of schedule generation `generation` or later: the kept one when it is
    /// that recent, else brought up to date with the tasks changed since (read one by one),
    /// else read whole.
    pub(crate) async fn plan(
        &self,
        generation: u64,
        events: &super::events::EventBus,
        store: &dyn super::Store,
    ) -> Result<Arc<Plan>, super::Error> {
        let mut kept = self.plan.lock().await;
        if let Some((g, plan)) = kept.as_ref() {
            if *g >= generation {
                return Ok(plan.clone());
            }
            if let Some((ids, upto)) = events
                .changes_since(*g)
                .filter(|(ids, _)| ids.len() <= MOST_PATCHED)
            {
                let mut fresh = Vec::with_capacity(ids.len());
                for id in ids {
                    let rec = store.get(&id).await?;
                    fresh.push((id, rec));
                }
                let plan = Arc::new(plan.patched(fresh));
                *kept = Some((upto, plan.clone()));
                return Ok(plan);
            }
        }
        // Read at the generation of now or later: what changes meanwhile is read again.
        let upto = events.schedule();
        let plan = Arc::new(Plan::new(store.scheduled().await?));
        *kept = Some((upto, plan.clone()));
        Ok(plan)
    }

    /// Where this process relays no notices (its scheduler not started, or stopped): the
    /// store's notices read here (subscribed to on the first call) are noted in `events`'
    /// change log as the relay would note them, so that [`Kept::plan`] follows them; with a
    /// store that sends none, the schedule is taken as changed each minute.
    pub(crate) fn hear(
        &self,
        events: &super::events::EventBus,
        store: &dyn super::Store,
        now: Timestamp,
    ) {
        use tokio::sync::broadcast::error::TryRecvError;
        let mut h = self.heard.lock().unwrap_or_else(|e| e.into_inner());
        if !h.subscribed {
            // What was kept may predate the subscription.
            h.subscribed = true;
            h.rx = store.notices();
            events.schedule_changed();
        }
        let Some(rx) = h.rx.as_mut() else {
            let minute = now.as_second().div_euclid(60);
            if h.minute.replace(minute) != Some(minute) {
                events.schedule_changed();
            }
            return;
        };
        loop {
            match rx.try_recv() {
                Ok(super::store::Notice { event: Some(e), .. }) => {
                    if changes_schedule(&e) {
                        events.task_changed(e.task_id().unwrap_or_default());
                    }
                }
                Ok(super::store::Notice { event: None, .. }) | Err(TryRecvError::Lagged(_)) => {
                    events.schedule_changed();
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => {
                    h.rx = None;
                    events.schedule_changed();
                    break;
                }
            }
        }
    }

    /// The answer to `q` counted at `generation` in the minute of `now`, if kept.
    pub(crate) fn answer(
        &self,
        q: &TimelineQuery,
        generation: u64,
        now: Timestamp,
    ) -> Option<Arc<Timeline>> {
        let minute = now.as_second().div_euclid(60);
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers
            .get(q)
            .filter(|(g, m, _)| *g == generation && *m == minute)
            .map(|(_, _, t)| t.clone())
    }

    pub(crate) fn keep(
        &self,
        q: &TimelineQuery,
        generation: u64,
        now: Timestamp,
        t: Arc<Timeline>,
    ) {
        let minute = now.as_second().div_euclid(60);
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        if answers.len() >= MOST_KEPT && !answers.contains_key(q) {
            let oldest = answers
                .iter()
                .min_by_key(|(_, (g, m, _))| (*m, *g))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                answers.remove(&k);
            }
        }
        answers.insert(q.clone(), (generation, minute, t));
    }

    /// The right to count, held until the counting ends.
    pub(crate) async fn counting(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.counting.clone().lock_owned().await
    }
}

impl TimelineQuery {
    /// The same query with its search text as it is matched (trimmed, lower-cased, none
    /// when empty): equal searches share one kept answer.
    pub(crate) fn normalised(&self) -> TimelineQuery {
        TimelineQuery {
            q: self
                .q
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_lowercase),
            ..self.clone()
        }
    }
}

const NANOS: i128 = 1_000_000_000;

fn ts(ns: i128) -> Timestamp {
    Timestamp::from_nanosecond(ns).unwrap_or(Timestamp::MAX)
}

/// The fires `first + k·p` (k ≥ 0) up to `last`, all in nanoseconds from the first slot's
/// start, as `add(slot, fires)` per slot of `step` nanoseconds: without a division per fire
/// or per slot, since a period at least a slot long moves a fixed number of slots and
/// nanoseconds each time, and a shorter one fires `step / p` or one more times a slot, by
/// where its first fire in the slot falls.
fn interval_slots(first: i64, last: i64, p: i64, step: i64, add: &mut impl FnMut(usize, u32)) {
    let last_slot = (last / step) as usize;
    let mut slot = (first / step) as usize;
    // Where the next fire falls within `slot`.
    let mut off = first - slot as i64 * step;
    if p >= step {
        let (slots, rest) = (p / step, p % step);
        let mut at = first;
        while at <= last {
            add(slot, 1);
            at += p;
            slot += slots as usize;
            off += rest;
            if off >= step {
                off -= step;
                slot += 1;
            }
        }
        return;
    }
    let (q, r) = (step / p, step % p);
    while slot <= last_slot {
        let k = if slot == last_slot {
            // Fires at offsets up to the last one's.
            let limit = last - slot as i64 * step;
            if off > limit {
                0
            } else {
                (limit - off) / p + 1
            }
        } else if off >= p {
            // The first slot, entered part-way.
            (step - off + p - 1) / p
        } else {
            q + i64::from(off < r)
        };
        if k > 0 {
            add(slot, u32::try_from(k).unwrap_or(u32::MAX));
        }
        off += k * p - step;
        slot += 1;
    }
}

/// The slots of a window, in nanoseconds since the epoch.
#[derive(Clone, Copy, Debug)]
struct Frame {
    /// The first slot's start.
    start: i128,
    /// Fires before this are not counted.
    from: i128,
    step: i128,
    slots: usize,
}

impl Frame {
    fn new(window: TimelineWindow, now: Timestamp) -> Frame {
        let step = i128::from(window.step_secs()) * NANOS;
        let minute = 60 * NANOS;
        let now = now.as_nanosecond();
        Frame {
            start: now.div_euclid(step) * step,
            from: now.div_euclid(minute) * minute,
            step,
            slots: window.slots(),
        }
    }

    fn end(&self) -> i128 {
        self.start + self.step * self.slots as i128
    }

    fn start_ts(&self) -> Timestamp {
        ts(self.start)
    }

    fn counted_from(&self) -> Timestamp {
        ts(self.from)
    }

    /// A cron task's fires per slot as (slot, count), in order. A cron expression's seconds
    /// are the same in every minute it fires in, so its fires are found a minute at a time:
    /// one search per minute that fires, not one per fire (an expression firing every second
    /// costs 10,080 searches over 7 days, not 604,800). Slots are whole minutes.
    fn cron_slots(&self, p: &Planned) -> Vec<(usize, u32)> {
        let minute = 60 * NANOS;
        let mut out: Vec<(usize, u32)> = Vec::new();
        // Fires in a minute that fires, found on the first such minute.
        let mut per_minute: Option<u32> = None;
        let mut t = ts(self.from - 1);
        while let Some(next) = p.next_after(t) {
            let at = next.as_nanosecond();
            if at >= self.end() {
                break;
            }
            let minute_start = at.div_euclid(minute) * minute;
            let k = *per_minute.get_or_insert_with(|| {
                let mut k = 1u32;
                let mut u = next;
                while let Some(n) = p.next_after(u) {
                    if n.as_nanosecond() >= minute_start + minute {
                        break;
                    }
                    k += 1;
                    u = n;
                }
                k
            });
            let slot = ((minute_start - self.start) / self.step) as usize;
            match out.last_mut() {
                Some((s, n)) if *s == slot => *n = n.saturating_add(k),
                _ => out.push((slot, k)),
            }
            t = ts(minute_start + minute - 1);
        }
        out
    }

    /// A one-off task's fire, as (slot, 1).
    fn date_slot(&self, p: &Planned) -> Option<(usize, u32)> {
        let at = p.next_after(ts(self.from - 1))?.as_nanosecond();
        (at < self.end()).then(|| (((at - self.start) / self.step) as usize, 1))
    }

    /// Calls `add(slot, fires)` for each slot where `p` fires, in order.
    fn for_each_slot(&self, p: &Planned, add: &mut impl FnMut(usize, u32)) {
        match p.trigger.shape() {
            Shape::Interval { every, end } => {
                let Some(first) = p.next_after(ts(self.from - 1)) else {
                    return;
                };
                // Nanoseconds from the first slot's start: a week fits an i64 many times.
                let first = first.as_nanosecond() - self.start;
                let last = end
                    .map_or(i128::MAX, |e| e.as_nanosecond() - self.start)
                    .min(self.end() - self.start - 1);
                if first > last {
                    return;
                }
                let (first, last, step) = (first as i64, last as i64, self.step as i64);
                // A period longer than the window fires once in it at most.
                let p = i64::try_from(every.as_nanos())
                    .unwrap_or(i64::MAX)
                    .min(last + 1);
                interval_slots(first, last, p, step, add);
            }
            Shape::Cron(_) => {
                for (s, k) in self.cron_slots(p) {
                    add(s, k);
                }
            }
            Shape::Date => {
                if let Some((s, k)) = self.date_slot(p) {
                    add(s, k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::{Task, Trigger};
    use jiff::tz::TimeZone;
    use std::time::Duration;

    fn rec(task: Task, anchor: Timestamp, now: Timestamp) -> TaskRecord {
        let trigger = Trigger::new(&task.trigger, &TimeZone::UTC).unwrap();
        let next_fire = trigger.next_after(now, anchor);
        TaskRecord {
            task: Arc::new(task),
            trigger,
            anchor,
            created_at: anchor,
            updated_at: anchor,
            next_fire,
            last_run: None,
            running: 0,
        }
    }

    /// The fires of `r` over the window, one by one: what the counting must agree with.
    fn brute(r: &TaskRecord, frame: &Frame) -> Vec<u32> {
        let mut out = vec![0u32; frame.slots];
        let mut t = ts(frame.from - 1);
        while let Some(next) = r.trigger.next_after(t, r.anchor) {
            let at = next.as_nanosecond();
            if at >= frame.end() {
                break;
            }
            out[((at - frame.start) / frame.step) as usize] += 1;
            t = next;
        }
        out
    }

    #[test]
    fn counting_agrees_with_every_fire_one_by_one() {
        let now: Timestamp = "2026-12-07T10:17:42.5Z".parse().unwrap();
        let anchor: Timestamp = "2026-12-07T09:00:03.25Z".parse().unwrap();
        let secs = Duration::from_secs;
        let tasks = vec![
            Task::new("a", "j").every(secs(7)),
            Task::new("b", "j").every(secs(60)),
            Task::new("c", "j").every(secs(61)),
            Task::new("d", "j").every(Duration::from_millis(1500)),
            Task::new("e", "j").every(secs(3600)),
            Task::new("f", "j").every(secs(5000)),
            Task::new("g", "j").cron("0 */5 * * * *").unwrap(),
            Task::new("h", "j").cron("*/20 * * * * *").unwrap(),
            Task::new("h2", "j").cron("*/15 * 2-4 * * *").unwrap(),
            Task::new("h3", "j")
                .cron_in("30 */7 * * * *", "Europe/Berlin")
                .unwrap(),
            Task::new("i", "j").cron("0 30 3 * * *").unwrap(),
            Task::new("k", "j").at("2026-12-08T01:02:03Z".parse().unwrap()),
            Task::new("l", "j").every(secs(40)),
        ];
        let mut recs: Vec<TaskRecord> = tasks.into_iter().map(|t| rec(t, anchor, now)).collect();
        // An interval that ends inside the window.
        let mut t = Task::new("m", "j").every(secs(90));
        t.trigger = crate::TriggerSpec::Interval {
            every: secs(90),
            start: None,
            end: Some("2026-12-07T18:00:00Z".parse().unwrap()),
        };
        recs.push(rec(t, anchor, now));
        for window in [TimelineWindow::Day, TimelineWindow::Week] {
            let frame = Frame::new(window, now);
            let plan = Plan::new(recs.clone());
            let q = TimelineQuery {
                window,
                ..TimelineQuery::default()
            };
            let tl = plan.timeline(&q, now);
            let mut want_fires = vec![0u32; frame.slots];
            let mut want_tasks = vec![0u32; frame.slots];
            for r in &recs {
                let mine = brute(r, &frame);
                let mut got = vec![0u32; frame.slots];
                let planned = Planned::of(r.clone()).unwrap();
                frame.for_each_slot(&planned, &mut |s, k| got[s] += k);
                assert_eq!(got, mine, "{} over {window:?}", r.task.id);
                for (s, k) in mine.iter().enumerate() {
                    want_fires[s] += k;
                    want_tasks[s] += u32::from(*k > 0);
                }
            }
            assert_eq!(tl.fires, want_fires, "{window:?}");
            assert_eq!(tl.tasks, want_tasks, "{window:?}");
            assert_eq!(
                tl.total_fires,
                want_fires.iter().map(|&k| u64::from(k)).sum::<u64>()
            );
            assert_eq!(tl.tasks_counted, recs.len() as u64);
            // The busiest slot, and one slot's tasks, agree with the counts.
            let top = tl.busiest[0];
            assert_eq!(top.fires, *tl.fires.iter().max().unwrap());
            let st = plan.slot_tasks(&q, top.at, now).unwrap();
            assert_eq!(st.total, u64::from(top.tasks));
            assert_eq!(st.tasks.iter().map(|t| t.fires).sum::<u32>(), top.fires);
        }
    }

    #[test]
    fn interval_counting_matches_placing_each_fire() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..3000 {
            let step: i64 = [60, 3600][next(2) as usize] * 1_000_000_000;
            let slots = 40;
            let p = 1_000_000 + next(3 * step as u64) as i64;
            let first = next(3 * step as u64) as i64;
            let last = first + next((slots * step - first) as u64) as i64;
            let mut want = vec![0u32; slots as usize];
            let mut at = first;
            while at <= last {
                want[(at / step) as usize] += 1;
                at += p;
            }
            let mut got = vec![0u32; slots as usize];
            interval_slots(first, last, p, step, &mut |s, k| got[s] += k);
            assert_eq!(got, want, "first {first} last {last} p {p} step {step}");
        }
    }

    #[test]
    fn filters_pileups_and_the_edges_of_the_window() {
        let now: Timestamp = "2026-12-07T10:17:42Z".parse().unwrap();
        let anchor: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let mut recs = Vec::new();
        // Twelve tasks at 03:00 every day: a pile-up; one paused, which is not counted.
        for i in 0..12 {
            recs.push(rec(
                Task::new(format!("nightly-{i}"), "report")
                    .cron("0 0 3 * * *")
                    .unwrap(),
                anchor,
                now,
            ));
        }
        let mut paused = Task::new("paused", "report").cron("0 0 3 * * *").unwrap();
        paused.paused = true;
        recs.push(rec(paused, anchor, now));
        recs.push(rec(
            Task::new("beat", "heartbeat").every(Duration::from_secs(60)),
            anchor,
            now,
        ));
        let plan = Plan::new(recs);
        let day = plan.timeline(&TimelineQuery::default(), now);
        assert_eq!(day.tasks_counted, 13);
        assert_eq!(day.start.to_string(), "2026-12-07T10:17:00Z");
        let three = day
            .slot_of("2026-12-08T03:00:00Z".parse().unwrap())
            .unwrap();
        assert_eq!((day.fires[three], day.tasks[three]), (13, 13));
        assert_eq!(day.pileups.len(), 1);
        assert_eq!(day.pileups[0].at.to_string(), "2026-12-08T03:00:00Z");
        assert_eq!(day.busiest[0].at, day.pileups[0].at);
        // The heartbeat alone: one fire a minute, no pile-up.
        let q = TimelineQuery {
            job: Some("heartbeat".into()),
            ..TimelineQuery::default()
        };
        let beat = plan.timeline(&q, now);
        assert_eq!(beat.total_fires, 1440);
        assert!(beat.pileups.is_empty());
        let q = TimelineQuery {
            q: Some("NIGHTLY-1".into()),
            window: TimelineWindow::Week,
            ..TimelineQuery::default()
        };
        let some = plan.timeline(&q, now);
        assert_eq!(some.tasks_counted, 3, "nightly-1, -10 and -11");
        assert_eq!(some.total_fires, 3 * 7);
        assert_eq!(some.start.to_string(), "2026-12-07T10:00:00Z");
        // Outside the window: no slot.
        assert!(plan
            .slot_tasks(&q, "2026-12-20T00:00:00Z".parse().unwrap(), now)
            .is_none());
        assert!(plan
            .slot_tasks(&q, "2026-12-01T00:00:00Z".parse().unwrap(), now)
            .is_none());
    }
}
