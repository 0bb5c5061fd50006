//! `ims explain`: prints the plan summary of every hot query as a table (Markdown, so it can
//! go straight into `docs/`) and fails when any plan is unacceptable.

use crate::config::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let db = storage::Db::connect(&config.db);
    let rows = seed::explain::explain_hot_queries(db.primary()).await?;
    db.close().await;
    println!("| query | access path | partitions | rows | time (ms) | verdict |");
    println!("| --- | --- | ---: | ---: | ---: | --- |");
    for row in &rows {
        let verdict = if row.problems.is_empty() {
            "ok".to_owned()
        } else {
            format!("FAIL: {}", row.problems.join("; "))
        };
        println!(
            "| {} | {} | {} | {} | {:.3} | {} |",
            row.query, row.access, row.partitions, row.rows, row.time_ms, verdict
        );
    }
    let failed = rows.iter().filter(|r| !r.problems.is_empty()).count();
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} hot queries have unacceptable plans",
            rows.len()
        );
    }
    Ok(())
}
