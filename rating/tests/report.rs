//! `report.html` in a real browser: headless Chromium (Debian's `chromium`) renders
//! the page of a scenario to a screenshot, and the DOM it built holds the figures.

use std::path::Path;
use std::process::Command;

use rating::run::run;

use crate::scenarios::Scenario;

/// Runs headless Chromium with `args` on `page` (60 s at most); its standard output.
fn chromium(page: &Path, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("timeout")
        .args([
            "60",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .args(["--no-first-run", "--window-size=1200,2000"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run chromium ({e}): install it with `apt-get install chromium`")
        });
    assert!(
        output.status.success(),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn the_report_renders_in_headless_chromium_with_its_charts_and_evidence() {
    let s = Scenario::load("forwarding").await;
    run(&s.options(&s.out)).await.unwrap();
    let page = s.out.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to fetch.
    for external in ["http://", "https://", " src=", "<script", "<link"] {
        assert!(
            !html.contains(external),
            "the report must not load {external}"
        );
    }

    let png = s.dir.path().join("report.png");
    chromium(&page, &[&format!("--screenshot={}", png.display())]);
    let image = std::fs::read(&png).unwrap();
    assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n", "a PNG screenshot");
    assert!(
        image.len() > 20_000,
        "a rendered page, not a blank one: {} bytes",
        image.len()
    );

    let dom = chromium(&page, &["--dump-dom"]);
    for expected in [
        "Fair-use rating — 2026-10",
        "1 breach(es) billed, 0 flag(s) for review, 0 unmatched call(s).",
        "<div class=\"trunk\" id=\"trunk-t1\">",
        "forwarded hours per user",
        // The busiest user's bar is red (above 2 h) and the threshold line is labelled.
        "<text x=\"0\" y=\"17\" font-size=\"11\">+33140000102</text><rect x=\"150\" y=\"4\" width=\"273\" height=\"18\" fill=\"#b00020\">",
        ">2 h</text>",
        "allowance 300",
        ">2.1833 hours</td>",
        "Invoice total acme: 10.88 EUR",
        "suspend the unlimited plan",
    ] {
        assert!(dom.contains(expected), "missing {expected:?} in the rendered DOM:\n{dom}");
    }
    assert_eq!(dom.matches("<svg").count(), 3, "three charts for the trunk");
}
