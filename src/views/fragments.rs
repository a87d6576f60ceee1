//! Rendered task rows kept between requests.
//!
//! The tasks page and its JSON twin are the dashboard's hottest answers, and the page is
//! fetched again on every live update while most of its rows have not changed. Each listed
//! task's row markup (one per permission pair, base path and time zone) and JSON object are
//! kept here with the [`TaskInfo`] they were made from; a later request reuses them while the
//! task it lists is equal in every field, and makes them afresh otherwise. So nothing is ever
//! invalidated by hand: a changed task simply no longer matches.
//!
//! The only thing in a row that changes with the clock, its relative times ("in 5m"), is
//! not kept: a row is kept with the places those go, and each request writes them.
//!
//! Bounded: past [`BUDGET`] bytes of kept text the whole set is dropped and refilled by the
//! requests that follow.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use jiff::Timestamp;

use crate::scheduler::TaskInfo;

/// Bytes of kept markup and JSON before the set is dropped: about 2,500 tasks' rows and
/// JSON, which covers any page size the dashboard offers many times over.
pub(crate) const BUDGET: usize = 4 << 20;

/// The kept rows of one dashboard.
#[derive(Default)]
pub(crate) struct Fragments {
    slots: RwLock<HashMap<Arc<str>, Slot>>,
    /// Bytes of text kept by the slots in `slots`.
    bytes: AtomicUsize,
}

/// What is kept for one task: the listing it was made from and the texts made from it.
pub(crate) struct Slot {
    info: TaskInfo,
    /// The row, by permission level (see [`Level`]).
    rows: [OnceLock<Row>; 4],
    json: OnceLock<Box<[u8]>>,
}

/// Which of a row's variants a viewer gets: exactly the permissions a row is drawn with, so
/// that no combination shares another's markup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Level(usize);

impl Level {
    pub(crate) fn of(can_operate: bool, can_admin: bool) -> Level {
        Level(usize::from(can_operate) | usize::from(can_admin) << 1)
    }
}

/// A kept row: its markup without its relative times, and where they go.
pub(crate) struct Row {
    /// The base path its links were made under and the time zone its times were shown in
    /// (a dashboard reached through several prefixes keeps the first; the others render
    /// their rows each time).
    base: Box<str>,
    zone: Box<str>,
    text: Box<str>,
    /// Byte offsets into `text`, ascending, each with the time to write there.
    holes: Box<[(usize, Timestamp)]>,
}

impl Row {
    /// Appends the row with its relative times as seen at `now`.
    pub(crate) fn write(&self, out: &mut String, mut relative: impl FnMut(&mut String, Timestamp)) {
        let mut from = 0;
        for &(at, time) in &*self.holes {
            out.push_str(&self.text[from..at]);
            relative(out, time);
            from = at;
        }
        out.push_str(&self.text[from..]);
    }
}

/// Where a row being rendered leaves its relative times out.
#[derive(Default)]
pub(crate) struct Holes(Vec<(usize, Timestamp)>);

impl Holes {
    /// The relative form of `time` goes at `at` (an offset into the row).
    pub(crate) fn push(&mut self, at: usize, time: Timestamp) {
        self.0.push((at, time));
    }
}

impl Fragments {
    /// Calls `f` with the slot of each listed task, in order, made afresh for tasks that
    /// changed since they were last kept (or were never kept). When every task is kept
    /// unchanged (the usual case) this takes only a shared lock, and hands out references
    /// rather than counted pointers, whose counts concurrent requests would fight over.
    pub(crate) fn with_slots<R>(&self, items: &[TaskInfo], f: impl FnOnce(&[&Slot]) -> R) -> R {
        {
            let mut refs: Vec<&Slot> = Vec::with_capacity(items.len());
            let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
            if self.bytes.load(Ordering::Relaxed) <= BUDGET {
                for t in items {
                    match slots.get(t.task.id.as_str()) {
                        Some(s) if same(&s.info, t) => refs.push(s),
                        _ => break,
                    }
                }
                if refs.len() == items.len() {
                    return f(&refs);
                }
            }
        }
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        if self.bytes.load(Ordering::Relaxed) > BUDGET {
            slots.clear();
            self.bytes.store(0, Ordering::Relaxed);
        }
        for t in items {
            match slots.get(t.task.id.as_str()) {
                Some(s) if same(&s.info, t) => {}
                _ => {
                    let fresh = Slot {
                        info: t.clone(),
                        rows: Default::default(),
                        json: OnceLock::new(),
                    };
                    // A replaced slot's text no longer counts.
                    if let Some(old) = slots.insert(Arc::from(t.task.id.as_str()), fresh) {
                        let n = old.kept();
                        let _ =
                            self.bytes
                                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                                    Some(b.saturating_sub(n))
                                });
                    }
                }
            }
        }
        let slots = &*slots;
        let refs: Vec<&Slot> = items
            .iter()
            .filter_map(|t| slots.get(t.task.id.as_str()))
            .collect();
        f(&refs)
    }

    /// The row of `slot` at `level` with links under `base` and times in `zone`, rendered by
    /// `render` the first time; `None` when the row kept was made for another base or zone.
    pub(crate) fn row<'s>(
        &self,
        slot: &'s Slot,
        level: Level,
        (base, zone): (&str, &str),
        render: impl FnOnce(&mut String, &mut Holes),
    ) -> Option<&'s Row> {
        let row = slot.rows[level.0].get_or_init(|| {
            let mut text = String::with_capacity(1024);
            let mut holes = Holes::default();
            render(&mut text, &mut holes);
            self.bytes.fetch_add(text.len(), Ordering::Relaxed);
            Row {
                base: base.into(),
                zone: zone.into(),
                text: text.into_boxed_str(),
                holes: holes.0.into_boxed_slice(),
            }
        });
        (*row.base == *base && *row.zone == *zone).then_some(row)
    }

    /// The JSON object of `slot`, written by `write` the first time.
    pub(crate) fn json<'s>(&self, slot: &'s Slot, write: impl FnOnce(&mut Vec<u8>)) -> &'s [u8] {
        slot.json.get_or_init(|| {
            let mut out = Vec::with_capacity(640);
            write(&mut out);
            self.bytes.fetch_add(out.len(), Ordering::Relaxed);
            out.into_boxed_slice()
        })
    }

    /// How many tasks are kept (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.read().unwrap().len()
    }
}

impl Slot {
    /// Bytes of text this slot keeps.
    fn kept(&self) -> usize {
        self.rows
            .iter()
            .filter_map(OnceLock::get)
            .map(|r| r.text.len())
            .sum::<usize>()
            + self.json.get().map_or(0, |j| j.len())
    }
}

/// True when two listings of a task are equal in every field, so that anything made from
/// one is right for the other. Written out field by field (no `..`): a field added to
/// [`TaskInfo`] fails to compile here until it is compared.
fn same(a: &TaskInfo, b: &TaskInfo) -> bool {
    let TaskInfo {
        task,
        state,
        trigger_kind,
        trigger_text,
        next_fire,
        last_run,
        running,
        created_at,
        updated_at,
        job_registered,
    } = a;
    // The memory store lists the definition it holds, so equal definitions are usually the
    // same allocation.
    (Arc::ptr_eq(task, &b.task) || **task == *b.task)
        && *state == b.state
        && *trigger_kind == b.trigger_kind
        && *trigger_text == b.trigger_text
        && *next_fire == b.next_fire
        && *last_run == b.last_run
        && *running == b.running
        && *created_at == b.created_at
        && *updated_at == b.updated_at
        && *job_registered == b.job_registered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::{Task, TaskRecord, Trigger};

    fn info(id: &str) -> TaskInfo {
        let at: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let task = Task::new(id, "job");
        let trigger = Trigger::new(&task.trigger, &jiff::tz::TimeZone::UTC).unwrap();
        TaskInfo::new(
            TaskRecord {
                task: Arc::new(task),
                trigger,
                anchor: at,
                created_at: at,
                updated_at: at,
                next_fire: Some(at),
                last_run: None,
                running: 0,
            },
            true,
        )
    }

    #[test]
    fn kept_text_is_reused_until_the_task_changes() {
        let kept = Fragments::default();
        let items = [info("a"), info("b")];
        let mut made = 0;
        for _ in 0..3 {
            kept.with_slots(&items, |slots| {
                for s in slots {
                    kept.json(s, |o| {
                        made += 1;
                        o.extend_from_slice(b"{}");
                    });
                }
            });
        }
        assert_eq!(made, 2, "each task's JSON is made once");
        // An equal listing in a fresh allocation (as a database store gives) still matches.
        let again = [info("a")];
        kept.with_slots(&again, |slots| {
            kept.json(slots[0], |_| made += 1);
        });
        assert_eq!(made, 2);
        // A changed task is made afresh.
        let mut changed = info("a");
        changed.running = 1;
        kept.with_slots(&[changed], |slots| {
            kept.json(slots[0], |_| made += 1);
        });
        assert_eq!(made, 3);
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn past_the_budget_everything_is_dropped() {
        let kept = Fragments::default();
        let big = vec![b'x'; BUDGET / 2 + 1];
        for id in ["a", "b"] {
            kept.with_slots(&[info(id)], |slots| {
                kept.json(slots[0], |o| o.extend_from_slice(&big));
            });
        }
        assert_eq!(kept.len(), 2);
        assert!(kept.bytes.load(Ordering::Relaxed) > BUDGET);
        kept.with_slots(&[info("c")], |_| ());
        assert_eq!(kept.len(), 1, "the set was dropped before c was kept");
        assert_eq!(kept.bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_row_kept_for_one_base_or_zone_is_not_given_to_another() {
        let kept = Fragments::default();
        kept.with_slots(&[info("a")], |slots| {
            let admin = Level::of(true, true);
            let r = kept.row(slots[0], admin, ("/one", "UTC"), |o, _| o.push_str("row"));
            assert!(r.is_some());
            let other = |key| kept.row(slots[0], admin, key, |_, _| unreachable!());
            assert!(other(("/two", "UTC")).is_none());
            assert!(other(("/one", "Europe/Berlin")).is_none());
            assert!(other(("/one", "UTC")).is_some());
            // Levels are kept apart.
            let r = kept.row(
                slots[0],
                Level::of(false, false),
                ("/two", "UTC"),
                |o, _| o.push_str("view"),
            );
            let mut out = String::new();
            r.unwrap().write(&mut out, |_, _| ());
            assert_eq!(out, "view");
        });
    }
}
