//! The widget benchmark hook used by `hmm bench` (`widgets_us`): every built-in widget is
//! timed on a generated 100-miner fleet. No timing is asserted here (budgets are proven by
//! the bench, DESIGN.md); run with `--release -- --nocapture` to see the numbers.

#[test]
fn widget_timings_cover_every_builtin_widget() {
    let timings = hmm::script::bench::widget_timings(100, 21);
    assert_eq!(timings.len(), hmm::script::widgets::BUILTIN_WIDGETS.len());
    for (name, us) in &timings {
        assert!(*us > 0.0, "{name}");
        println!("widget {name:<18} {us:>8.1} µs");
    }
}
