//! The report: latency percentiles, and the table printed without `--json`.

use serde_json::{Value, json};

pub(crate) fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index.min(sorted.len() - 1)]) / 1000.0
}

pub(crate) fn latency_json(samples: &[u32]) -> Value {
    json!({
        "count": samples.len(),
        "p50": percentile(samples, 0.50),
        "p95": percentile(samples, 0.95),
        "p99": percentile(samples, 0.99),
        "max": samples.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
    })
}

pub(crate) fn print_table(r: &Value) {
    println!(
        "flow {} · target {} · concurrency {} · {:.1} s",
        r["flow"],
        r["target"],
        r["concurrency"],
        r["duration_s"].as_f64().unwrap_or(0.0)
    );
    println!(
        "flows {} ({:.0}/s) · requests {} ({:.0}/s) · errors {}",
        r["flows"],
        r["flows_per_s"].as_f64().unwrap_or(0.0),
        r["requests"],
        r["requests_per_s"].as_f64().unwrap_or(0.0),
        r["errors"]
    );
    if let (Some(steal), Some(idle)) = (
        r["machine_steal_pct"].as_f64(),
        r["machine_idle_pct"].as_f64(),
    ) {
        println!("machine: {steal:.0} % stolen by other tenants, {idle:.0} % idle");
    }
    if let Some(cpu) = r["server_cpu_us_per_flow"].as_f64() {
        println!(
            "server CPU {:.0} µs/flow · peak RSS {:.1} MiB",
            cpu,
            r["server_peak_rss_mb"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(threads) = r["server_cpu_us_per_flow_by_thread"].as_object()
        && !threads.is_empty()
    {
        let parts: Vec<String> = threads
            .iter()
            .map(|(name, us)| format!("{name} {us} µs"))
            .collect();
        println!("  by thread, per flow: {}", parts.join(" · "));
    }
    println!(
        "{:<14} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "route", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    let mut rows: Vec<(String, &Value)> = vec![("all".into(), &r["latency_ms"])];
    if let Some(per_route) = r["latency_ms"]["per_route"].as_object() {
        rows.extend(per_route.iter().map(|(k, v)| (k.clone(), v)));
    }
    for (route, l) in rows {
        println!(
            "{:<14} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            route,
            l["count"]
                .as_u64()
                .map_or_else(|| r["requests"].to_string(), |c| c.to_string()),
            l["p50"].as_f64().unwrap_or(0.0),
            l["p95"].as_f64().unwrap_or(0.0),
            l["p99"].as_f64().unwrap_or(0.0),
            l["max"].as_f64().unwrap_or(0.0)
        );
    }
}
