//! The web console's Customers overview in a real browser: how long after
//! the API's answer the first page of rows is on screen, for a partner with
//! 10,000 customers against one with 50 (one page), in the same run.
//! Issue 23's target: under 300 ms after the API answers, and never the
//! whole list.
//!
//! Each load is a fresh page (the console's shell from the gateway, then
//! one `ListCustomerOverviews` of 50 rows). The browser's own clocks give
//! both figures: the resource timing of that call (request start to the
//! last byte of its answer) and the console's `estate:overview-rendered`
//! mark, set once the rows are painted (Preact runs effects after the
//! frame that shows them). Loads of the two
//! partners alternate, each opening the round in turn, so drift on a
//! shared machine hits both alike. Every load must have made exactly one
//! overview call and shown exactly one page.
//!
//! Run: `cargo bench -p estate-e2e --bench console_overview` (needs
//! Chromium and ChromeDriver, the console built, and PostgreSQL like the
//! tests; deploy/local/test.sh provides all three).

#[allow(dead_code)]
#[path = "../browser/driver.rs"]
mod driver;

use std::time::Duration;

use estate_e2e::{Platform, seeding};
use estate_proto::common::OrganizationKind;
use fantoccini::Client;
use serde_json::Value;

const LARGE: usize = 10_000;
const SMALL: usize = 50;
const PAGE_SIZE: usize = 50;
const WARM_UP: usize = 3;
const ROUNDS: usize = 30;

/// One partner to load, signed in in a browser of its own.
struct Side {
    label: String,
    browser: driver::Browser,
    url: String,
    render: Vec<f64>,
    api: Vec<f64>,
}

/// Loads the overview afresh; (API answer ms, answer-to-rows ms).
async fn load(client: &Client, url: &str) -> anyhow::Result<(f64, f64)> {
    client.goto("about:blank").await?;
    client.goto(url).await?;
    let measured = driver::eventually("the overview's rows", || async {
        let value = client
            .execute(
                "const marks = performance.getEntriesByName('estate:overview-rendered');
                 const calls = performance.getEntriesByType('resource')
                   .filter(e => e.name.endsWith('/ListCustomerOverviews'));
                 if (marks.length === 0 || calls.length === 0) return null;
                 const rows = document.querySelectorAll('tbody tr[data-customer]').length;
                 return { marks: marks.length, calls: calls.length, rows,
                          api: calls[0].responseEnd - calls[0].requestStart,
                          render: marks[0].startTime - calls[0].responseEnd };",
                vec![],
            )
            .await?;
        Ok((!value.is_null()).then_some(value))
    })
    .await?;
    let number = |key: &str| {
        measured
            .get(key)
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    anyhow::ensure!(
        number("calls") == 1.0 && number("marks") == 1.0 && number("rows") == PAGE_SIZE as f64,
        "one call, one page of {PAGE_SIZE} rows: {measured}"
    );
    Ok((number("api"), number("render")))
}

fn percentile(values: &mut [f64], fraction: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let index = ((values.len() as f64 - 1.0) * fraction).round() as usize;
    values[index]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    anyhow::ensure!(
        driver::available(),
        "needs Chromium, ChromeDriver and the console build"
    );
    let platform = Platform::spawn().await?;
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "Bench Distributor")
        .await?;
    let mut sides = Vec::new();
    for (size, first_owner) in [(LARGE, 0), (SMALL, LARGE)] {
        let partner = platform
            .create_organization(
                &distributor.name,
                OrganizationKind::Partner,
                &format!("Bench Partner {size}"),
            )
            .await?;
        let started = std::time::Instant::now();
        seeding::create_customers(&platform, &partner.name, first_owner, size).await?;
        println!(
            "seeded {size} customers in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let key = platform.create_api_key(&partner.name, &["admin"]).await?;
        let browser = driver::Browser::open().await?;
        driver::sign_in(
            &browser.client,
            &platform.gateway.url(),
            &key,
            &partner.name,
        )
        .await?;
        sides.push(Side {
            label: format!("{size} customers"),
            browser,
            url: format!("{}/#/customers?size={PAGE_SIZE}", platform.gateway.url()),
            render: Vec::new(),
            api: Vec::new(),
        });
    }
    for _ in 0..WARM_UP {
        for side in &sides {
            load(&side.browser.client, &side.url).await?;
        }
    }
    for round in 0..ROUNDS {
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        for index in order {
            let side = &mut sides[index];
            let (api, render) = load(&side.browser.client, &side.url).await?;
            side.api.push(api);
            side.render.push(render);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    println!("\n| partner | API answer p50 / p95 | answer to rows on screen p50 / p95 |");
    println!("|---|---|---|");
    let mut medians = Vec::new();
    for side in &mut sides {
        let (api50, api95) = (
            percentile(&mut side.api, 0.5),
            percentile(&mut side.api, 0.95),
        );
        let (r50, r95) = (
            percentile(&mut side.render, 0.5),
            percentile(&mut side.render, 0.95),
        );
        medians.push(r50);
        println!(
            "| {} | {api50:.1} / {api95:.1} ms | {r50:.1} / {r95:.1} ms |",
            side.label
        );
    }
    println!(
        "\nanswer to rows, {LARGE} vs {SMALL} customers (p50): {:.2}x; target: under 300 ms at {LARGE}",
        medians[0] / medians[1]
    );
    for side in sides {
        side.browser.run(&side.label, |_| async { Ok(()) }).await;
    }
    platform.shutdown().await?;
    Ok(())
}
