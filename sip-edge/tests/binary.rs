//! The `sip-edge` binary under its signals: SIGHUP reloads provisioning without
//! dropping calls, SIGTERM drains (503 to new calls, calls in progress go on) and
//! flushes records.

use crate::lab::{expect_success, Lab, LabOptions, TRUNK};
use cdr::Disposition;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::sipp::wait_udp_bound;

/// Kills the edge if the test fails before stopping it.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on the child this test started.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

async fn wait_log(path: &std::path::Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the edge's log:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_channels_and_sigterm_drains() {
    let lab = Lab::prepare(
        21,
        LabOptions {
            channels: 1,
            ..LabOptions::default()
        },
    )
    .await;
    let config = lab.write_config();
    let log = lab.dir.path().join("edge.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_sip-edge"));
    testkit::die_with_parent(&mut command);
    let edge = command
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the sip-edge binary runs");
    let mut edge = KillOnDrop(Some(edge));
    let pid = edge.0.as_ref().map(|c| c.id()).unwrap_or_default();
    let edge_addr = lab.edge_addr();
    assert!(
        tokio::task::spawn_blocking(move || wait_udp_bound(edge_addr, Duration::from_secs(20)))
            .await
            .unwrap(),
        "the edge did not start:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let active = format!("sip_edge_active_calls{{trunk=\"{TRUNK}\"}}");
    let uas = lab.uas("uas_basic", lab.carrier(), 2, &[]).await;
    // A: holds the only channel until the edge ends it at the drain deadline.
    let a = lab
        .uac("uac_wait_bye", lab.pbx(), "0612345678", 1)
        .spawn("uac A")
        .unwrap();
    lab.wait_metric(&active, 1.0).await;
    // B: refused, the trunk is full.
    let b = lab
        .uac("uac_or_refused", lab.addr(21, 5062), "0612345678", 1)
        .spawn("uac B")
        .unwrap();
    expect_success(b).await;
    lab.wait_metric("sip_edge_refusals_total{reason=\"no_channel\"}", 1.0)
        .await;
    // The customer buys a second channel: reload, A keeps its channel.
    lab.set_channels(2);
    signal(pid, libc::SIGHUP);
    wait_log(&log, "Provisioning reloaded").await;
    let c = lab
        .uac("uac_basic", lab.addr(21, 5064), "0612345678", 1)
        .args(["-d", "100"])
        .spawn("uac C")
        .unwrap();
    expect_success(c).await;
    // Drain: new calls get 503; A goes on until the drain deadline (2 s), when the
    // edge ends it with BYE to both sides.
    signal(pid, libc::SIGTERM);
    wait_log(&log, "Draining").await;
    let d = lab
        .uac("uac_or_refused", lab.addr(21, 5066), "0612345678", 1)
        .spawn("uac D")
        .unwrap();
    expect_success(d).await;
    expect_success(a).await;
    expect_success(uas).await;
    let mut child = edge.0.take().unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "edge log:\n{text}");
    assert!(text.contains("call records flushed"), "{text}");
    let records = lab.records(4).await;
    let count = |d: Disposition| records.iter().filter(|r| r.disposition == d).count();
    assert_eq!(count(Disposition::Answered), 2, "{records:#?}");
    assert_eq!(count(Disposition::RejectedNoChannel), 1);
    assert_eq!(count(Disposition::RejectedPolicy), 1);
    let c_record = records
        .iter()
        .filter(|r| r.disposition == Disposition::Answered)
        .max_by_key(|r| r.invite_ms)
        .unwrap();
    assert_eq!(c_record.channels_in_force, Some(2));
    assert_eq!(c_record.calls_in_progress, Some(1));
    assert_eq!(c_record.end_reason, None, "C hung up itself");
    let a_record = records
        .iter()
        .filter(|r| r.disposition == Disposition::Answered)
        .min_by_key(|r| r.invite_ms)
        .unwrap();
    assert_eq!(
        a_record.end_reason.as_deref(),
        Some(cdr::end_reason::SHUTDOWN),
        "A was ended by the drain deadline"
    );
}
