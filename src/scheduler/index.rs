//! The memory store's task table and the ordered indexes that keep a page of any sort or
//! state filter cheap however many tasks exist.
//!
//! Kept in step on every change ([`TaskIndex::modify`]):
//! - `due`: next fire time → id, for the timer loop and the next-run sort;
//! - `by_state`: per state, (next fire, id): state filters, the state sort, next-run sort
//!   within a state;
//! - `by_name`: (lower-cased name, id); `by_last`: (last run time, id);
//! - counts per job × state × trigger kind, so totals under the dashboard's filters are sums
//!   over a handful of counters instead of a scan.
//!
//! Only text search (`q`) scans: substring matching has no cheap index.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;

use super::model::{LastRun, StateCounts, TaskQuery, TaskSort, TaskState};
use super::store::TaskRecord;
use super::task::Task;
use super::trigger::TriggerKind;

const KINDS: [TriggerKind; 3] = [TriggerKind::Interval, TriggerKind::Cron, TriggerKind::Date];

/// A state's position in display order (also its code in the PostgreSQL store).
pub(crate) fn state_ix(s: TaskState) -> usize {
    match s {
        TaskState::Scheduled => 0,
        TaskState::Running => 1,
        TaskState::Paused => 2,
        TaskState::Completed => 3,
    }
}

fn kind_ix(k: TriggerKind) -> usize {
    match k {
        TriggerKind::Interval => 0,
        TriggerKind::Cron => 1,
        TriggerKind::Date => 2,
    }
}

/// Next-fire sort key: tasks without one sort last.
type NextKey = (bool, Timestamp);

fn next_key(next: Option<Timestamp>) -> NextKey {
    match next {
        Some(t) => (false, t),
        None => (true, Timestamp::MIN),
    }
}

/// Lower-cased, as names are sorted and searched.
pub(crate) fn lower(s: &str) -> Box<str> {
    s.chars()
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .into()
}

/// The query's search text, trimmed and lower-cased; `None` when there is none.
fn needle_of(q: &TaskQuery) -> Option<String> {
    q.q.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.to_lowercase())
}

/// Lower-cased "id\nname\njob", searched by `q`.
pub(crate) fn haystack(t: &Task) -> Box<str> {
    lower(&format!("{}\n{}\n{}", t.id, t.name, t.job))
}

/// One task row.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) rec: TaskRecord,
    haystack: Box<str>,
    id: Arc<str>,
}

/// What the indexes key on, taken before and after a change.
struct Snap {
    state: TaskState,
    next: Option<Timestamp>,
    last: Option<Timestamp>,
    kind: TriggerKind,
    task: Arc<Task>,
}

impl Snap {
    fn of(r: &TaskRecord) -> Snap {
        Snap {
            state: r.state(),
            next: r.next_fire,
            last: r.last_run.as_ref().map(LastRun::at),
            kind: r.trigger.kind(),
            task: r.task.clone(),
        }
    }
}

/// The task table with its indexes.
#[derive(Debug, Default)]
pub(crate) struct TaskIndex {
    /// Boxed rows, found by hashing: a listed page looks up each of its rows, and a B-tree
    /// search compared a dozen ids per row.
    tasks: HashMap<Arc<str>, Box<Entry>>,
    /// Ids in order.
    by_id: BTreeSet<Arc<str>>,
    due: BTreeSet<(Timestamp, Arc<str>)>,
    no_next: BTreeSet<Arc<str>>,
    by_state: [BTreeSet<(NextKey, Arc<str>)>; 4],
    by_name: BTreeSet<(Box<str>, Arc<str>)>,
    by_last: BTreeSet<(Timestamp, Arc<str>)>,
    /// Per job: counts by state × trigger kind.
    counts: HashMap<String, [[usize; 3]; 4]>,
    states: StateCounts,
}

impl TaskIndex {
    pub(crate) fn get(&self, id: &str) -> Option<&TaskRecord> {
        self.tasks.get(id).map(|e| &e.rec)
    }

    /// Adds a row; false if the id is taken.
    pub(crate) fn insert(&mut self, rec: TaskRecord) -> bool {
        if self.tasks.contains_key(rec.task.id.as_str()) {
            return false;
        }
        let id: Arc<str> = Arc::from(rec.task.id.as_str());
        let snap = Snap::of(&rec);
        let entry = Entry {
            haystack: haystack(&rec.task),
            rec,
            id: id.clone(),
        };
        self.tasks.insert(id.clone(), Box::new(entry));
        self.by_id.insert(id.clone());
        self.apply(&id, None, Some(&snap));
        true
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<TaskRecord> {
        let entry = self.tasks.remove(id)?;
        self.by_id.remove(id);
        let snap = Snap::of(&entry.rec);
        self.apply(&entry.id, Some(&snap), None);
        Some(entry.rec)
    }

    /// Changes a row with `f`, keeping every index in step.
    pub(crate) fn modify<R>(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut TaskRecord) -> R,
    ) -> Option<R> {
        let e = self.tasks.get_mut(id)?;
        let before = Snap::of(&e.rec);
        let r = f(&mut e.rec);
        let after = Snap::of(&e.rec);
        if !Arc::ptr_eq(&before.task, &after.task) {
            e.haystack = haystack(&e.rec.task);
        }
        let id = e.id.clone();
        self.apply(&id, Some(&before), Some(&after));
        Some(r)
    }

    fn apply(&mut self, id: &Arc<str>, before: Option<&Snap>, after: Option<&Snap>) {
        let same_task =
            matches!((before, after), (Some(b), Some(a)) if Arc::ptr_eq(&b.task, &a.task));
        let key = |s: &Snap| (next_key(s.next), id.clone());
        if let Some(b) = before {
            let moved = after.is_none_or(|a| a.next != b.next || a.state != b.state);
            if after.is_none_or(|a| a.next != b.next) {
                match b.next {
                    Some(t) => self.due.remove(&(t, id.clone())),
                    None => self.no_next.remove(id),
                };
            }
            if moved {
                self.by_state[state_ix(b.state)].remove(&key(b));
            }
            if after.is_none_or(|a| a.last != b.last) {
                if let Some(t) = b.last {
                    self.by_last.remove(&(t, id.clone()));
                }
            }
            if after.is_none_or(|a| !same_task && a.task.name != b.task.name) {
                self.by_name.remove(&(lower(&b.task.name), id.clone()));
            }
            if after
                .is_none_or(|a| a.state != b.state || a.kind != b.kind || a.task.job != b.task.job)
            {
                self.count(&b.task.job, b.state, b.kind, false);
            }
        }
        if let Some(a) = after {
            let moved = before.is_none_or(|b| a.next != b.next || a.state != b.state);
            if before.is_none_or(|b| a.next != b.next) {
                match a.next {
                    Some(t) => self.due.insert((t, id.clone())),
                    None => self.no_next.insert(id.clone()),
                };
            }
            if moved {
                self.by_state[state_ix(a.state)].insert(key(a));
            }
            if before.is_none_or(|b| a.last != b.last) {
                if let Some(t) = a.last {
                    self.by_last.insert((t, id.clone()));
                }
            }
            if before.is_none_or(|b| !same_task && a.task.name != b.task.name) {
                self.by_name.insert((lower(&a.task.name), id.clone()));
            }
            if before
                .is_none_or(|b| a.state != b.state || a.kind != b.kind || a.task.job != b.task.job)
            {
                self.count(&a.task.job, a.state, a.kind, true);
            }
        }
    }

    fn count(&mut self, job: &str, state: TaskState, kind: TriggerKind, up: bool) {
        let cell = match self.counts.get_mut(job) {
            Some(c) => c,
            None => self.counts.entry(job.to_string()).or_default(),
        };
        let n = &mut cell[state_ix(state)][kind_ix(kind)];
        let s = match state {
            TaskState::Scheduled => &mut self.states.scheduled,
            TaskState::Running => &mut self.states.running,
            TaskState::Paused => &mut self.states.paused,
            TaskState::Completed => &mut self.states.completed,
        };
        if up {
            *n += 1;
            *s += 1;
        } else {
            *n = n.saturating_sub(1);
            *s = s.saturating_sub(1);
            if cell.iter().flatten().all(|c| *c == 0) {
                self.counts.remove(job);
            }
        }
    }

    /// The earliest next fire.
    pub(crate) fn first_due(&self) -> Option<(Timestamp, Arc<str>)> {
        self.due.first().cloned()
    }

    pub(crate) fn states(&self) -> StateCounts {
        self.states
    }

    /// Each job's tasks by state.
    pub(crate) fn job_states(&self) -> Vec<(String, StateCounts)> {
        self.counts
            .iter()
            .map(|(job, cell)| {
                let n = |s: TaskState| cell[state_ix(s)].iter().sum();
                let counts = StateCounts {
                    scheduled: n(TaskState::Scheduled),
                    running: n(TaskState::Running),
                    paused: n(TaskState::Paused),
                    completed: n(TaskState::Completed),
                };
                (job.clone(), counts)
            })
            .collect()
    }

    /// Tasks not paused whose next fire is before `before` (normally none: a walk over them).
    pub(crate) fn overdue(&self, before: Timestamp) -> u64 {
        self.due
            .iter()
            .take_while(|(t, _)| *t < before)
            .filter(|(_, id)| self.tasks.get(id).is_some_and(|e| !e.rec.task.paused))
            .count() as u64
    }

    /// Distinct job names of stored tasks, sorted.
    pub(crate) fn jobs(&self) -> Vec<String> {
        let mut j: Vec<String> = self.counts.keys().cloned().collect();
        j.sort_unstable();
        j
    }

    /// Tasks matching the filters, from counters (no scan) unless `q` is set.
    fn total(&self, q: &TaskQuery, needle: Option<&str>) -> usize {
        if needle.is_some() {
            return self
                .tasks
                .values()
                .filter(|e| self.matches(e, q, needle))
                .count();
        }
        let states: &[TaskState] = match &q.state {
            Some(s) => std::slice::from_ref(s),
            None => &TaskState::ALL,
        };
        let kinds: &[TriggerKind] = match &q.trigger {
            Some(k) => std::slice::from_ref(k),
            None => &KINDS,
        };
        let sum = |cell: &[[usize; 3]; 4]| -> usize {
            states
                .iter()
                .flat_map(|s| kinds.iter().map(move |k| cell[state_ix(*s)][kind_ix(*k)]))
                .sum()
        };
        match &q.job {
            Some(j) => self.counts.get(j.as_str()).map(sum).unwrap_or(0),
            None => self.counts.values().map(sum).sum(),
        }
    }

    fn matches(&self, e: &Entry, q: &TaskQuery, needle: Option<&str>) -> bool {
        let r = &e.rec;
        q.state.is_none_or(|s| r.state() == s)
            && q.job.as_deref().is_none_or(|j| r.task.job == j)
            && q.trigger.is_none_or(|k| r.trigger.kind() == k)
            && needle.is_none_or(|n| e.haystack.contains(n))
    }

    /// Ids in the query's order (before filtering).
    fn ordered<'a>(
        &'a self,
        q: &TaskQuery,
        desc: bool,
    ) -> Box<dyn Iterator<Item = &'a Arc<str>> + 'a> {
        fn dir<'a, I>(it: I, desc: bool) -> Box<dyn Iterator<Item = &'a Arc<str>> + 'a>
        where
            I: DoubleEndedIterator<Item = &'a Arc<str>> + 'a,
        {
            if desc {
                Box::new(it.rev())
            } else {
                Box::new(it)
            }
        }
        match (q.sort, q.state) {
            (TaskSort::NextRun, Some(s)) => {
                dir(self.by_state[state_ix(s)].iter().map(|(_, id)| id), desc)
            }
            (TaskSort::NextRun, None) => {
                let due = self.due.iter().map(|(_, id)| id);
                let rest = self.no_next.iter();
                if desc {
                    Box::new(rest.rev().chain(due.rev()))
                } else {
                    Box::new(due.chain(rest))
                }
            }
            (TaskSort::Name, _) => dir(self.by_name.iter().map(|(_, id)| id), desc),
            (TaskSort::Id, _) => dir(self.by_id.iter(), desc),
            (TaskSort::LastRun, _) => {
                let ran = self.by_last.iter().map(|(_, id)| id);
                let never = self.by_id.iter().filter(|id| {
                    self.tasks
                        .get(&**id)
                        .is_some_and(|e| e.rec.last_run.is_none())
                });
                if desc {
                    Box::new(never.rev().chain(ran.rev()))
                } else {
                    Box::new(ran.chain(never))
                }
            }
            (TaskSort::State, _) => {
                let all = self
                    .by_state
                    .iter()
                    .flat_map(|s| s.iter().map(|(_, id)| id));
                if desc {
                    Box::new(
                        self.by_state
                            .iter()
                            .rev()
                            .flat_map(|s| s.iter().rev().map(|(_, id)| id)),
                    )
                } else {
                    Box::new(all)
                }
            }
        }
    }

    /// A page of the query: the rows, the total matching, and (for a page from a cursor)
    /// whether rows lie beyond it.
    pub(crate) fn list(
        &self,
        q: &TaskQuery,
        offset: usize,
        limit: usize,
    ) -> (Vec<TaskRecord>, usize, Option<bool>) {
        let needle = needle_of(q);
        let needle = needle.as_deref();
        if let Some(n) = needle {
            return self.search(q, n, offset, limit);
        }
        let total = self.total(q, needle);
        if let Some(c) = &q.cursor {
            // Walk from the end nearest the page: forwards after the place, backwards before it.
            let mut items: Vec<TaskRecord> = self
                .ordered(q, q.desc != c.is_before())
                .filter_map(|id| self.tasks.get(id))
                .filter(|e| self.matches(e, q, needle))
                .skip_while(|e| !c.admits(&e.rec, q.sort, q.desc))
                .take(limit + 1)
                .map(|e| e.rec.clone())
                .collect();
            let more = items.len() > limit;
            items.truncate(limit);
            if c.is_before() {
                items.reverse();
            }
            return (items, total, Some(more));
        }
        if offset >= total {
            return (Vec::new(), total, None);
        }
        let mut items = Vec::with_capacity(limit.min(total - offset));
        // When the index walked holds exactly the matching rows, skip ids without looking
        // their rows up: a deep page costs a walk over ids, not a lookup per skipped row.
        let exact = q.job.is_none()
            && q.trigger.is_none()
            && (q.state.is_none() || q.sort == TaskSort::NextRun);
        if exact {
            items.extend(
                self.ordered(q, q.desc)
                    .skip(offset)
                    .take(limit)
                    .filter_map(|id| self.tasks.get(id))
                    .map(|e| e.rec.clone()),
            );
        } else {
            items.extend(
                self.ordered(q, q.desc)
                    .filter_map(|id| self.tasks.get(id))
                    .filter(|e| self.matches(e, q, needle))
                    .skip(offset)
                    .take(limit)
                    .map(|e| e.rec.clone()),
            );
        }
        (items, total, None)
    }

    /// Text search: one pass over the rows collects the matches (usually few), which are
    /// then ordered like the indexes order them.
    fn search(
        &self,
        q: &TaskQuery,
        needle: &str,
        offset: usize,
        limit: usize,
    ) -> (Vec<TaskRecord>, usize, Option<bool>) {
        let hits: Vec<&Entry> = self
            .tasks
            .values()
            .filter(|e| self.matches(e, q, Some(needle)))
            .map(|e| &**e)
            .collect();
        self.page_of(hits, q, offset, limit)
    }

    /// A page of the query among the tasks `ids` (a few: those with an open alert).
    pub(crate) fn list_among<'a>(
        &self,
        ids: impl Iterator<Item = &'a str>,
        q: &TaskQuery,
        offset: usize,
        limit: usize,
    ) -> (Vec<TaskRecord>, usize, Option<bool>) {
        let needle = needle_of(q);
        let hits: Vec<&Entry> = ids
            .filter_map(|id| self.tasks.get(id))
            .filter(|e| self.matches(e, q, needle.as_deref()))
            .map(|e| &**e)
            .collect();
        self.page_of(hits, q, offset, limit)
    }

    /// Tasks not paused and with no run going whose next fire is before `before`, the
    /// longest overdue first.
    pub(crate) fn overdue_tasks(&self, before: Timestamp) -> impl Iterator<Item = &TaskRecord> {
        self.due
            .iter()
            .take_while(move |(t, _)| *t < before)
            .filter_map(|(_, id)| self.tasks.get(id))
            .map(|e| &e.rec)
            .filter(|r| !r.task.paused && r.running == 0)
    }

    /// `hits` ordered as the query asks, and the page of them.
    fn page_of(
        &self,
        mut hits: Vec<&Entry>,
        q: &TaskQuery,
        offset: usize,
        limit: usize,
    ) -> (Vec<TaskRecord>, usize, Option<bool>) {
        let total = hits.len();
        let last = |r: &TaskRecord| {
            r.last_run
                .as_ref()
                .map(|l| next_key(Some(l.at())))
                .unwrap_or(next_key(None))
        };
        match q.sort {
            TaskSort::NextRun => hits.sort_by_key(|e| (next_key(e.rec.next_fire), e.id.clone())),
            TaskSort::Name => hits.sort_by_cached_key(|e| (lower(&e.rec.task.name), e.id.clone())),
            TaskSort::Id => hits.sort_by(|a, b| a.id.cmp(&b.id)),
            TaskSort::LastRun => hits.sort_by_key(|e| (last(&e.rec), e.id.clone())),
            TaskSort::State => hits.sort_by_key(|e| {
                (
                    state_ix(e.rec.state()),
                    next_key(e.rec.next_fire),
                    e.id.clone(),
                )
            }),
        }
        if q.desc {
            hits.reverse();
        }
        let (from, to, more) = match &q.cursor {
            None => (
                offset.min(total),
                offset.saturating_add(limit).min(total),
                None,
            ),
            Some(c) if c.is_before() => {
                let end = hits
                    .iter()
                    .position(|e| !c.admits(&e.rec, q.sort, q.desc))
                    .unwrap_or(total);
                (end.saturating_sub(limit), end, Some(end > limit))
            }
            Some(c) => {
                let start = hits
                    .iter()
                    .position(|e| c.admits(&e.rec, q.sort, q.desc))
                    .unwrap_or(total);
                let end = start.saturating_add(limit).min(total);
                (start, end, Some(end < total))
            }
        };
        let items = hits[from..to].iter().map(|e| e.rec.clone()).collect();
        (items, total, more)
    }

    /// Every row, for scans that cannot use an index.
    pub(crate) fn values(&self) -> impl Iterator<Item = &TaskRecord> {
        self.by_id.iter().filter_map(|id| self.get(id))
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;
    use std::time::Duration;

    use super::*;
    use crate::scheduler::model::{LastRun, TaskCursor};
    use crate::scheduler::{RunStatus, Trigger};

    fn naive(all: &[TaskRecord], q: &TaskQuery) -> Vec<String> {
        fn opt<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
            match (a, b) {
                (Some(a), Some(b)) => a.cmp(&b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
        let needle = q.q.as_deref().map(str::to_lowercase);
        let mut v: Vec<&TaskRecord> = all
            .iter()
            .filter(|r| {
                q.state.is_none_or(|s| r.state() == s)
                    && q.job.as_deref().is_none_or(|j| r.task.job == j)
                    && q.trigger.is_none_or(|k| r.trigger.kind() == k)
                    && needle.as_deref().is_none_or(|n| {
                        format!("{}\n{}\n{}", r.task.id, r.task.name, r.task.job)
                            .to_lowercase()
                            .contains(n)
                    })
            })
            .collect();
        let last = |r: &TaskRecord| r.last_run.as_ref().map(LastRun::at);
        v.sort_by(|a, b| {
            let o = match q.sort {
                TaskSort::NextRun => opt(a.next_fire, b.next_fire),
                TaskSort::Name => a.task.name.to_lowercase().cmp(&b.task.name.to_lowercase()),
                TaskSort::Id => Ordering::Equal,
                TaskSort::LastRun => opt(last(a), last(b)),
                TaskSort::State => a
                    .state()
                    .cmp(&b.state())
                    .then_with(|| opt(a.next_fire, b.next_fire)),
            }
            .then_with(|| a.task.id.cmp(&b.task.id));
            if q.desc {
                o.reverse()
            } else {
                o
            }
        });
        v.iter().map(|r| r.task.id.clone()).collect()
    }

    #[test]
    fn indexes_agree_with_a_full_sort_after_random_changes() {
        fastrand::seed(7);
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut ix = TaskIndex::default();
        let names = ["alpha", "Beta", "gamma", "Delta", "epsilon"];
        let jobs = ["report", "sync", "cleanup"];
        for i in 0..300 {
            let mut task = Task::new(format!("t{i:03}"), jobs[i % 3]).name(format!(
                "{} {}",
                names[i % 5],
                i % 7
            ));
            if i % 4 == 0 {
                task = task.cron("0 3 * * *").unwrap();
            }
            let trigger = Trigger::new(&task.trigger, &jiff::tz::TimeZone::UTC).unwrap();
            assert!(ix.insert(TaskRecord {
                task: Arc::new(task),
                trigger,
                anchor: t0,
                created_at: t0,
                updated_at: t0,
                next_fire: Some(t0 + Duration::from_secs(fastrand::u64(0..1000))),
                last_run: None,
                running: 0,
            }));
        }
        for _ in 0..2000 {
            let id = format!("t{:03}", fastrand::usize(0..300));
            match fastrand::u8(0..6) {
                0 => {
                    ix.modify(&id, |r| {
                        r.next_fire = (fastrand::bool())
                            .then(|| t0 + Duration::from_secs(fastrand::u64(0..1000)))
                    });
                }
                1 => {
                    ix.modify(&id, |r| {
                        r.running = if r.running > 0 { r.running - 1 } else { 1 }
                    });
                }
                2 => {
                    ix.modify(&id, |r| {
                        let t = Arc::make_mut(&mut r.task);
                        t.paused = !t.paused;
                        if t.paused {
                            r.next_fire = None;
                        }
                    });
                }
                3 => {
                    ix.modify(&id, |r| {
                        r.last_run = Some(LastRun {
                            run_id: fastrand::u64(..),
                            status: RunStatus::Succeeded,
                            scheduled_at: t0,
                            finished_at: Some(t0 + Duration::from_secs(fastrand::u64(0..50))),
                            error: None,
                        })
                    });
                }
                4 => {
                    ix.modify(&id, |r| {
                        let mut t = (*r.task).clone();
                        t.name = format!("{} renamed", names[fastrand::usize(0..5)]);
                        t.job = jobs[fastrand::usize(0..3)].to_string();
                        r.task = Arc::new(t);
                    });
                }
                _ => {
                    if let Some(rec) = ix.remove(&id) {
                        if fastrand::bool() {
                            ix.insert(rec);
                        }
                    }
                }
            }
        }
        let all: Vec<TaskRecord> = ix.values().cloned().collect();
        let states = ix.states();
        for st in TaskState::ALL {
            assert_eq!(
                states.get(st),
                all.iter().filter(|r| r.state() == st).count()
            );
        }
        // Each job's counts too.
        let mut jobs = ix.job_states();
        jobs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want: std::collections::BTreeMap<String, StateCounts> = Default::default();
        for r in &all {
            let c = want.entry(r.task.job.clone()).or_default();
            match r.state() {
                TaskState::Scheduled => c.scheduled += 1,
                TaskState::Running => c.running += 1,
                TaskState::Paused => c.paused += 1,
                TaskState::Completed => c.completed += 1,
            }
        }
        let want: Vec<(String, StateCounts)> = want.into_iter().collect();
        assert_eq!(jobs, want);
        for sort in TaskSort::ALL {
            for desc in [false, true] {
                for state in [
                    None,
                    Some(TaskState::Scheduled),
                    Some(TaskState::Paused),
                    Some(TaskState::Running),
                ] {
                    for job in [None, Some("sync")] {
                        for trigger in [None, Some(TriggerKind::Cron)] {
                            for q in [None, Some("ALPHA")] {
                                let query = TaskQuery {
                                    q: q.map(String::from),
                                    state,
                                    job: job.map(String::from),
                                    trigger,
                                    sort,
                                    desc,
                                    ..TaskQuery::default()
                                };
                                let want = naive(&all, &query);
                                let (got, total, _) = ix.list(&query, 0, 1000);
                                let got: Vec<String> =
                                    got.iter().map(|r| r.task.id.clone()).collect();
                                assert_eq!(total, want.len(), "{query:?}");
                                assert_eq!(got, want, "{query:?}");
                                let (page, _, _) = ix.list(&query, 5, 7);
                                let page: Vec<String> =
                                    page.iter().map(|r| r.task.id.clone()).collect();
                                let expect: Vec<String> =
                                    want.iter().skip(5).take(7).cloned().collect();
                                assert_eq!(page, expect, "paged {query:?}");
                                // From a cursor at any row (through its text), after and before.
                                if let Some(i) =
                                    (!want.is_empty()).then(|| fastrand::usize(..want.len()))
                                {
                                    let rec = ix.get(&want[i]).unwrap();
                                    for before in [false, true] {
                                        let text = TaskCursor::of(rec, sort, before).encode(sort);
                                        let cursor =
                                            TaskCursor::parse(&text, sort, before).unwrap();
                                        assert_eq!(cursor, TaskCursor::of(rec, sort, before));
                                        let at = TaskQuery {
                                            cursor: Some(cursor),
                                            ..query.clone()
                                        };
                                        let (page, total, more) = ix.list(&at, 0, 7);
                                        // Rows beyond the page, in the direction read.
                                        let beyond =
                                            if before { i > 7 } else { i + 8 < want.len() };
                                        assert_eq!(more, Some(beyond), "{at:?}");
                                        let page: Vec<String> =
                                            page.iter().map(|r| r.task.id.clone()).collect();
                                        let expect = if before {
                                            want[i.saturating_sub(7)..i].to_vec()
                                        } else {
                                            want.iter().skip(i + 1).take(7).cloned().collect()
                                        };
                                        assert_eq!(total, want.len());
                                        assert_eq!(page, expect, "{at:?}");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
