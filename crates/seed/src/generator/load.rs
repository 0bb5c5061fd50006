//! The loader's side of the COPY pipeline: runs each `COPY … FROM STDIN` the generator asks
//! for on the transaction's connection, streams its chunks, and counts rows and time per
//! phase. If the generator stops mid-table the COPY is aborted, so nothing half-written stays.

use sqlx::PgConnection;
use tokio::sync::mpsc::Receiver;

use super::copy::Message;
use super::progress::{Phase, Progress, Report};
use super::GenerateError;

pub(crate) async fn consume(
    conn: &mut PgConnection,
    rx: &mut Receiver<Message>,
    progress: &Progress,
    report: &mut Report,
) -> Result<(), GenerateError> {
    let mut phase: Option<Phase> = None;
    while let Some(message) = rx.recv().await {
        match message {
            Message::Phase { label, rows } => {
                if let Some(done) = phase.take() {
                    done.finish(report);
                }
                phase = Some(progress.start(label, rows));
            }
            Message::EndPhase => {
                if let Some(done) = phase.take() {
                    done.finish(report);
                }
            }
            Message::Copy { table, statement } => {
                let rows = copy_one(conn, rx, &statement, phase.as_ref()).await?;
                report.add_rows(table, rows);
            }
            Message::Data(..) | Message::EndCopy => {
                return Err(GenerateError::Generator("rows outside a COPY".into()));
            }
        }
    }
    if let Some(done) = phase.take() {
        done.finish(report);
    }
    Ok(())
}

async fn copy_one(
    conn: &mut PgConnection,
    rx: &mut Receiver<Message>,
    statement: &str,
    phase: Option<&Phase>,
) -> Result<u64, GenerateError> {
    let mut copy = conn
        .copy_in_raw(statement)
        .await
        .map_err(storage::Error::from)?;
    loop {
        match rx.recv().await {
            Some(Message::Data(chunk, rows)) => {
                if let Err(e) = copy.send(chunk).await {
                    // The server's reason (a bad row, a constraint) comes with the abort.
                    return Err(match copy.abort("send failed").await {
                        Err(server) => storage::Error::from(server).into(),
                        Ok(()) => storage::Error::from(e).into(),
                    });
                }
                if let Some(phase) = phase {
                    phase.advance(rows);
                }
            }
            Some(Message::EndCopy) => {
                return Ok(copy.finish().await.map_err(storage::Error::from)?);
            }
            other => {
                let _ = copy.abort("generator stopped").await;
                return Err(GenerateError::Generator(match other {
                    None => "the row generator stopped in the middle of a table".into(),
                    Some(m) => format!("unexpected {m:?} inside a COPY"),
                }));
            }
        }
    }
}
