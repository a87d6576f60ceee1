//! The timeline over a real socket: the page and its JSON twin count the same fires, a slot
//! lists its tasks, pile-ups are flagged (and the task form's preview warns of them), a
//! change to the schedule shows at once, and bad parameters are refused naming the field.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use http::StatusCode;
use serde_json::Value;
use taskdeck::{Dashboard, ManualClock, Scheduler, Task, TaskContext};

/// At 10:17 UTC: twelve report tasks at 03:00 UTC daily (a pile-up), a heartbeat every
/// minute, and a paused report task at 03:00 that is not counted.
async fn setup() -> (Scheduler, ManualClock, Server) {
    let clock = ManualClock::new("2026-03-02T10:17:30Z".parse().unwrap());
    let s = Scheduler::builder().clock(clock.clone()).build().unwrap();
    s.register("report", |_ctx: TaskContext| async move { Ok(()) });
    s.register("heartbeat", |_ctx: TaskContext| async move { Ok(()) });
    for i in 0..12 {
        s.add(
            Task::new(format!("nightly-{i:02}"), "report")
                .cron("0 0 3 * * *")
                .unwrap(),
        )
        .await
        .unwrap();
    }
    s.add(
        Task::new("nightly-paused", "report")
            .cron("0 0 3 * * *")
            .unwrap()
            .paused(true),
    )
    .await
    .unwrap();
    s.add(Task::new("beat", "heartbeat").every(Duration::from_secs(60)))
        .await
        .unwrap();
    let srv = serve(Dashboard::builder(s.clone())).await;
    (s, clock, srv)
}

fn api(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn the_page_and_the_api_count_the_same_fires_and_list_a_slots_tasks() {
    let (s, _clock, srv) = setup().await;
    let day = api(&srv.get("/api/timeline").await.body);
    assert_eq!(day["window"], "24h");
    assert_eq!(day["start"], "2026-03-02T10:17:00Z");
    assert_eq!(day["step_secs"], 60);
    let fires: Vec<u64> = day["fires"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(fires.len(), 1440);
    // 03:00 tomorrow is slot (24 h - 7 h 17 min) = 1003: twelve reports and the heartbeat.
    assert_eq!(fires[1003], 13);
    assert_eq!(day["tasks"][1003], 13);
    // The heartbeat, added at 10:17:30, fires at 10:18:30 and each minute after: 1,439 times
    // before 10:17 tomorrow.
    assert_eq!(day["total_fires"], 12 + 1439);
    assert_eq!(day["tasks_counted"], 13, "the paused task is not counted");
    assert_eq!(day["busiest"][0]["at"], "2026-03-03T03:00:00Z");
    assert_eq!(day["pileups"][0]["tasks"], 13);

    // The week, per hour, of the reports alone: a fire a day each.
    let week = api(&srv.get("/api/timeline?window=7d&job=report").await.body);
    assert_eq!(week["fires"].as_array().unwrap().len(), 168);
    assert_eq!(week["total_fires"], 12 * 7);
    assert_eq!(week["tasks_counted"], 12);
    assert!(
        week["pileups"].as_array().unwrap().is_empty(),
        "minutes only"
    );
    let q = api(&srv.get("/api/timeline?q=NIGHTLY-0&trigger=cron").await.body);
    assert_eq!(q["tasks_counted"], 10, "nightly-00 to nightly-09");

    // One slot's tasks, by RFC 3339 time or Unix seconds: the same.
    let slot = api(&srv.get("/api/timeline?at=2026-03-03T03:00:30Z").await.body);
    assert_eq!(slot["slot"]["at"], "2026-03-03T03:00:00Z");
    assert_eq!(slot["slot"]["total"], 13);
    let ids: Vec<&str> = slot["slot"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"nightly-00") && ids.contains(&"beat"),
        "{ids:?}"
    );
    let at: i64 = "2026-03-03T03:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second();
    let by_secs = api(&srv.get(&format!("/api/timeline?at={at}")).await.body);
    assert_eq!(by_secs["slot"], slot["slot"]);

    // The page: the heat map, the busiest minute and the pile-up, each linking to its slot;
    // the slot's tasks, linking to them.
    let page = srv.get("/timeline").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains("class=\"heatmap per-minute\""), "{body}");
    assert_eq!(body.matches("class=\"hm-row\"").count(), 24);
    assert!(
        body.contains("1451 fires from 13 of the 13 tasks"),
        "{body}"
    );
    assert!(body.contains("13 tasks start together"), "{body}");
    let link = format!("/timeline?window=24h&amp;at={at}#slot");
    assert!(body.contains(&link), "{link} in {body}");
    let page = srv.get(&format!("/timeline?at={at}")).await.body;
    assert!(page.contains("id=\"slot\""), "{page}");
    assert!(page.contains("href=\"/tasks/nightly-07\""), "{page}");
    let week = srv.get("/timeline?window=7d").await.body;
    assert_eq!(week.matches("class=\"hm-row\"").count(), 7);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_change_to_the_schedule_shows_at_once() {
    let (s, _clock, srv) = setup().await;
    let before = api(&srv.get("/api/timeline?job=report").await.body);
    assert_eq!(before["total_fires"], 12);
    s.add(
        Task::new("nightly-12", "report")
            .cron("0 0 3 * * *")
            .unwrap(),
    )
    .await
    .unwrap();
    let after = api(&srv.get("/api/timeline?job=report").await.body);
    assert_eq!(after["total_fires"], 13);
    s.pause("nightly-00").await.unwrap();
    s.remove("nightly-01").await.unwrap();
    let later = api(&srv.get("/api/timeline?job=report").await.body);
    assert_eq!(later["total_fires"], 11);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn the_clock_moves_the_window() {
    let (s, clock, srv) = setup().await;
    let first = api(&srv.get("/api/timeline?job=heartbeat").await.body);
    clock.advance(Duration::from_secs(120));
    let later = api(&srv.get("/api/timeline?job=heartbeat").await.body);
    assert_eq!(first["start"], "2026-03-02T10:17:00Z");
    assert_eq!(
        later["start"], "2026-03-02T10:19:00Z",
        "a new minute, a new count"
    );
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn the_task_forms_preview_warns_of_a_pileup() {
    let (s, _clock, srv) = setup().await;
    let r = srv
        .post_form("/api/preview", "kind=cron&expr=0+0+3+*+*+*&n=2")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = api(&r.body);
    assert_eq!(p["load"][0]["crowded"], true, "{p}");
    assert_eq!(p["load"][0]["text"], "13 tasks fire in that minute");
    // The second fire, beyond 24 hours, in its hour.
    assert_eq!(p["load"][1]["text"], "72 fires in that hour", "{p}");
    let advice = p["advice"].as_str().unwrap();
    assert!(advice.contains("13 tasks already start at"), "{advice}");
    assert!(advice.contains("add a jitter"), "{advice}");
    // The quietest minute: 10:17, before the heartbeat's first fire, has one task less.
    assert!(
        advice.contains("minute :17 of the hour, where about 1 start"),
        "{advice}"
    );
    // A quiet minute: no advice.
    let p = api(&srv
        .post_form("/api/preview", "kind=cron&expr=0+7+4+*+*+*&n=1")
        .await
        .body);
    assert_eq!(p["load"][0]["crowded"], false, "{p}");
    assert!(p["advice"].is_null());
    // The form without script: the same notes.
    let r = srv
        .post_form(
            "/tasks/preview",
            "id=new&job=report&kind=cron&expr=0+0+3+*+*+*&max_instances=1&retries=0",
        )
        .await;
    assert!(
        r.body.contains("13 tasks fire in that minute"),
        "{}",
        r.body
    );
    assert!(r.body.contains("tasks already start at"), "{}", r.body);
    s.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_the_field() {
    let (s, _clock, srv) = setup().await;
    for (query, field) in [
        ("window=1y", "window"),
        ("at=yesterday", "at"),
        ("at=2026-03-20T00:00:00Z", "at"),
        ("at=2026-01-01T00:00:00Z", "at"),
        ("trigger=sometimes", "trigger"),
    ] {
        let r = srv.get(&format!("/api/timeline?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
        assert!(r.body.contains(field), "{query}: {}", r.body);
        let page = srv.get(&format!("/timeline?{query}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
    }
    let long = "x".repeat(500);
    let r = srv.get(&format!("/api/timeline?q={long}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    s.shutdown(Duration::ZERO).await;
}
