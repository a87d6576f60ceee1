//! LISTEN on the store's channel over a dedicated connection, reconnecting with backoff, and
//! turn notifications into [`Notice`]s.

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_postgres::AsyncMessage;

use super::quote_ident;
use crate::scheduler::events::Event;
use crate::scheduler::store::Notice;

#[derive(Serialize, Deserialize)]
struct Wire {
    /// The instance that made the change.
    i: String,
    /// What changed.
    e: Event,
}

/// The NOTIFY payload for `event` made by `instance`.
pub(super) fn payload(instance: &str, event: &Event) -> String {
    // A notification carries at most 8,000 bytes: a run's new log lines are not sent, only
    // that it logged; other replicas read the lines from the store, written first.
    let e = match event {
        Event::RunLog {
            run_id,
            task_id,
            seq,
            dropped,
            ..
        } => Event::RunLog {
            run_id: *run_id,
            task_id: task_id.clone(),
            lines: Vec::new(),
            seq: *seq,
            dropped: *dropped,
        },
        other => other.clone(),
    };
    serde_json::to_string(&Wire {
        i: instance.to_string(),
        e,
    })
    .unwrap_or_default()
}

/// Runs until aborted (when the store is dropped). `listening` is told once the first
/// `LISTEN` is in place.
pub(super) async fn run(
    config: tokio_postgres::Config,
    tls: super::tls::Connector,
    channel: String,
    instance: String,
    notices: broadcast::Sender<Notice>,
    listening: tokio::sync::oneshot::Sender<()>,
) {
    let mut wait = Duration::from_millis(250);
    let mut first = true;
    let mut listening = Some(listening);
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut conn)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
                let drive = tokio::spawn(async move {
                    while let Some(m) = messages.next().await {
                        match m {
                            Ok(AsyncMessage::Notification(n)) => {
                                if tx.send(n.payload().to_string()).is_err() {
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %super::pg(e), "PostgreSQL listen connection failed");
                                break;
                            }
                        }
                    }
                });
                match client
                    .batch_execute(&format!("LISTEN {}", quote_ident(&channel)))
                    .await
                {
                    Ok(()) => {
                        if let Some(tx) = listening.take() {
                            let _ = tx.send(());
                        }
                        if !first {
                            tracing::info!("listening for taskdeck changes again");
                            // Changes made while disconnected were not heard: look again.
                            let _ = notices.send(Notice {
                                event: None,
                                foreign: true,
                            });
                        }
                        first = false;
                        wait = Duration::from_millis(250);
                        while let Some(p) = rx.recv().await {
                            match serde_json::from_str::<Wire>(&p) {
                                Ok(w) => {
                                    let _ = notices.send(Notice {
                                        foreign: w.i != instance,
                                        event: Some(w.e),
                                    });
                                }
                                Err(e) => {
                                    tracing::debug!(error = %e, "ignored a malformed notice")
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                }
                drive.abort();
            }
            Err(e) => {
                tracing::warn!(error = %super::pg(e), retry_in = ?wait,
                    "cannot open the PostgreSQL listen connection; retrying");
            }
        }
        tokio::time::sleep(wait).await;
        wait = crate::scheduler::instance::backoff(wait);
    }
}
