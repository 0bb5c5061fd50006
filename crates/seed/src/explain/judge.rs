//! Judging a plan: which scans it used, how many order partitions it read, and whether a large
//! table was read sequentially.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::PgPool;

use super::{ExplainRow, LARGE_TABLE_ROWS};
use storage::Result;

pub(super) async fn table_sizes(pool: &PgPool) -> Result<BTreeMap<String, f64>> {
    let rows: Vec<(String, f32)> = sqlx::query_as(
        "SELECT c.relname::text, greatest(c.reltuples, 0) FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, tuples)| (name, f64::from(tuples)))
        .collect())
}

/// Summarizes a plan and lists what is wrong with it.
pub(super) fn judge(
    query: &'static str,
    max_partitions: Option<usize>,
    explained: &Value,
    sizes: &BTreeMap<String, f64>,
) -> ExplainRow {
    let top = &explained[0];
    let mut scans = Vec::new();
    walk(&top["Plan"], &mut scans);
    let mut problems = Vec::new();
    let mut access: Vec<String> = Vec::new();
    let mut partitions = std::collections::BTreeSet::new();
    for scan in &scans {
        let relation = scan.relation.as_deref().unwrap_or("");
        let shown_relation = collapse_partition(relation);
        if relation.starts_with("orders_y") && scan.loops > 0.0 {
            partitions.insert(relation.to_owned());
        }
        let label = match (&scan.index, scan.node.as_str()) {
            (Some(index), node) => format!("{node} using {}", collapse_partition(index)),
            (None, node) => format!("{node} on {shown_relation}"),
        };
        if !access.contains(&label) {
            access.push(label);
        }
        if scan.node.contains("Seq Scan") && scan.loops > 0.0 {
            let size = sizes.get(relation).copied().unwrap_or(0.0);
            if size > LARGE_TABLE_ROWS {
                problems.push(format!("sequential scan of {relation} ({size:.0} rows)"));
            }
        }
    }
    if let Some(max) = max_partitions {
        if partitions.len() > max {
            problems.push(format!(
                "read {} order partitions, needs at most {max}",
                partitions.len()
            ));
        }
    }
    ExplainRow {
        query,
        access: access.join(", "),
        partitions: partitions.len(),
        rows: top["Plan"]["Actual Rows"].as_f64().unwrap_or(0.0),
        time_ms: top["Execution Time"].as_f64().unwrap_or(0.0),
        problems,
    }
}

/// `orders_y2026m11_status_idx` → `orders_y*_status_idx`: one label for every partition.
fn collapse_partition(name: &str) -> String {
    let bytes = name.as_bytes();
    let is_month = |at: usize| {
        bytes.len() >= at + 7
            && bytes[at..at + 4].iter().all(u8::is_ascii_digit)
            && bytes[at + 4] == b'm'
            && bytes[at + 5..at + 7].iter().all(u8::is_ascii_digit)
    };
    match name.strip_prefix("orders_y") {
        Some(_) if is_month(8) => format!("orders_y*{}", &name[15..]),
        _ => name.to_owned(),
    }
}

struct Scan {
    node: String,
    relation: Option<String>,
    index: Option<String>,
    loops: f64,
}

/// Collects every node that reads a relation or an index.
fn walk(plan: &Value, out: &mut Vec<Scan>) {
    let node = plan["Node Type"].as_str().unwrap_or_default();
    let relation = plan["Relation Name"].as_str().map(str::to_owned);
    let index = plan["Index Name"].as_str().map(str::to_owned);
    if relation.is_some() || index.is_some() {
        out.push(Scan {
            node: node.to_owned(),
            relation,
            index,
            loops: plan["Actual Loops"].as_f64().unwrap_or(0.0),
        });
    }
    if let Some(children) = plan["Plans"].as_array() {
        for child in children {
            walk(child, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_large_seq_scans_and_extra_partitions() {
        let plan = json!([{ "Execution Time": 1.5, "Plan": { "Node Type": "Append", "Actual Rows": 3.0, "Plans": [
            { "Node Type": "Seq Scan", "Relation Name": "orders_y2026m10", "Actual Loops": 1.0 },
            { "Node Type": "Index Scan", "Relation Name": "orders_y2026m11", "Index Name": "i", "Actual Loops": 1.0 },
            { "Node Type": "Index Scan", "Relation Name": "orders_y2026m12", "Index Name": "i", "Actual Loops": 0.0 },
        ]}}]);
        let sizes = BTreeMap::from([("orders_y2026m10".to_owned(), 50_000.0)]);
        let row = judge("q", Some(1), &plan, &sizes);
        assert_eq!(row.partitions, 2);
        assert_eq!(row.problems.len(), 2, "{:?}", row.problems);
        let small = BTreeMap::from([("orders_y2026m10".to_owned(), 50.0)]);
        assert_eq!(judge("q", None, &plan, &small).problems.len(), 0);
        assert_eq!(row.access, "Seq Scan on orders_y*, Index Scan using i");
    }

    #[test]
    fn partitions_share_a_label() {
        assert_eq!(
            collapse_partition("orders_y2026m11_status_idx"),
            "orders_y*_status_idx"
        );
        assert_eq!(collapse_partition("orders_y2026m11"), "orders_y*");
        assert_eq!(collapse_partition("orders_yes"), "orders_yes");
    }
}
