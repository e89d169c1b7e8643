//! The widget rows of `hmm bench` (`widgets_us`): every built-in widget is evaluated over
//! the bench's own store through the daemon's script data, and a widget that fails makes
//! the bench fail rather than report a meaningless time. No timing is asserted here
//! (budgets are proven by the bench, DESIGN.md).

use std::time::Duration;

use hmm::bench::{BenchOptions, run};

#[test]
fn the_bench_times_every_builtin_widget_over_its_store() {
    let dir = tempfile::tempdir().unwrap();
    let report = run(&BenchOptions {
        miners: 10,
        days: 1.0,
        interval: Duration::from_secs(60),
        dir: Some(dir.path().to_path_buf()),
    })
    .expect("bench runs");
    assert_eq!(
        report.widgets_us.len(),
        hmm::script::widgets::BUILTIN_WIDGETS.len()
    );
    for (name, us) in &report.widgets_us {
        assert!(*us > 0.0, "{name}");
    }
}
