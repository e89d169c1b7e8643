//! The sandbox: runaway scripts end in clear errors while the engine keeps serving the
//! others; a broken edit keeps the last good version and reports file:line:col; the top
//! level of a script is not re-run per call.

use std::path::Path;
use std::sync::Arc;

use hmm::script::testing::{MemoryData, generated_fleet};
use hmm::script::{ScriptHost, WidgetSet};

const NOW_MS: u64 = 1_790_000_000_000;

fn write(dir: &Path, name: &str, source: &str) {
    std::fs::write(dir.join(format!("{name}.rhai")), source).unwrap();
}

fn data() -> Arc<MemoryData> {
    generated_fleet(4, NOW_MS, 1, 60)
}

#[test]
fn runaway_scripts_fail_clearly_and_the_others_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "endless", "fn widget() {\n  loop { }\n}\n");
    write(
        dir.path(),
        "huge",
        "fn widget() {\n  let s = \"xxxxxxxx\";\n  loop { s += s; }\n}\n",
    );
    write(
        dir.path(),
        "deep",
        "fn down(n) { down(n + 1) }\nfn widget() { down(0) }\n",
    );
    write(
        dir.path(),
        "array",
        "fn widget() {\n  let a = [];\n  loop { a.push(1); }\n}\n",
    );
    write(
        dir.path(),
        "import-in-fn",
        "fn widget() {\n  import \"secrets\" as s;\n  #{}\n}\n",
    );
    write(
        dir.path(),
        "good",
        "fn widget() { #{ miners: miners().len() } }\n",
    );
    let set = WidgetSet::load(ScriptHost::new(data()), Some(dir.path()));
    let expect = [
        ("endless", "Too many operations"),
        ("huge", "Length of string"),
        ("deep", "Stack overflow"),
        ("array", "Size of array"),
        ("import-in-fn", "Module not found"),
    ];
    for (name, message) in expect {
        let error = set.evaluate(name, NOW_MS).unwrap_err().to_string();
        let file = dir
            .path()
            .join(format!("{name}.rhai"))
            .display()
            .to_string();
        assert!(error.starts_with(&format!("{file}:")), "{name}: {error}");
        assert!(error.contains(message), "{name}: {error}");
        // The engine still serves: the good widget and a built-in.
        let good = set.evaluate("good", NOW_MS).unwrap();
        assert_eq!(good.value["miners"], 4);
        assert!(set.evaluate("total-hashrate", NOW_MS).is_ok());
    }
    // Runtime errors are reported through script_errors() for `hmm status`.
    let errors = set.script_errors();
    assert_eq!(errors.len(), 5, "{errors:?}");
    // The failed widget's cached result carries the error.
    assert!(
        set.result("endless")
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("Too many operations")
    );
}

#[test]
fn eval_and_top_level_import_are_rejected_at_load_with_a_position() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "evil-eval",
        "fn widget() {\n  let x = 1;\n  eval(\"x + 1\")\n}\n",
    );
    write(
        dir.path(),
        "evil-import",
        "import \"other\" as o;\nfn widget() { #{} }\n",
    );
    write(dir.path(), "no-entry", "fn something() { 1 }\n");
    let set = WidgetSet::load(ScriptHost::new(data()), Some(dir.path()));
    let errors: Vec<String> = set.script_errors().iter().map(|e| e.to_string()).collect();
    let path = |n: &str| dir.path().join(format!("{n}.rhai")).display().to_string();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{}:3:3:", path("evil-eval"))) && e.contains("eval")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{}:1:", path("evil-import")))
                && e.contains("Module not found")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&path("no-entry")) && e.contains("no `fn widget()`")),
        "{errors:?}"
    );
    assert!(!set.names().contains(&"evil-eval".to_string()));
    let error = set.evaluate("evil-eval", NOW_MS).unwrap_err().to_string();
    assert!(error.contains("eval"), "{error}");
}

#[test]
fn a_broken_edit_keeps_the_last_good_version_and_reports_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "mine", "fn widget() {\n  #{ value: 1 }\n}\n");
    let set = WidgetSet::load(ScriptHost::new(data()), Some(dir.path()));
    assert_eq!(set.evaluate("mine", NOW_MS).unwrap().value["value"], 1);

    write(
        dir.path(),
        "mine",
        "fn widget() {\n  let x = ;\n  #{ value: 2 }\n}\n",
    );
    set.refresh_due(NOW_MS + 1);
    let errors: Vec<String> = set.script_errors().iter().map(|e| e.to_string()).collect();
    let file = dir.path().join("mine.rhai").display().to_string();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!("{file}:2:11: ")),
        "{}",
        errors[0]
    );
    assert_eq!(
        set.evaluate("mine", NOW_MS).unwrap().value["value"],
        1,
        "last good version still runs"
    );

    write(dir.path(), "mine", "fn widget() {\n  #{ value: 3 }\n}\n");
    set.refresh_due(NOW_MS + 2);
    assert!(set.script_errors().is_empty());
    assert_eq!(set.evaluate("mine", NOW_MS).unwrap().value["value"], 3);
}

#[test]
fn a_user_file_overrides_a_builtin_and_removing_it_restores_the_builtin() {
    let dir = tempfile::tempdir().unwrap();
    let set = WidgetSet::load(ScriptHost::new(data()), Some(dir.path()));
    assert!(
        set.evaluate("uptime", NOW_MS)
            .unwrap()
            .value
            .get("uptime_pct")
            .is_some()
    );
    write(dir.path(), "uptime", "fn widget() { #{ mine: true } }\n");
    set.refresh_due(NOW_MS);
    assert_eq!(set.evaluate("uptime", NOW_MS).unwrap().value["mine"], true);
    std::fs::remove_file(dir.path().join("uptime.rhai")).unwrap();
    set.refresh_due(NOW_MS);
    assert!(
        set.evaluate("uptime", NOW_MS)
            .unwrap()
            .value
            .get("uptime_pct")
            .is_some()
    );
}

#[test]
fn the_top_level_runs_once_at_load_not_on_every_call() {
    // The top level alone uses ~300k of the 500k operations allowed per run; if each call
    // re-ran it (rhai's call_fn default), top level + widget would exceed the limit.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "heavy-top",
        "let n = 0;\nfor i in 0..100000 { n += 1; }\nfn widget() {\n  let m = 0;\n  for i in 0..100000 { m += 1; }\n  #{ m: m }\n}\n",
    );
    let set = WidgetSet::load(ScriptHost::new(data()), Some(dir.path()));
    assert!(set.script_errors().is_empty(), "{:?}", set.script_errors());
    for _ in 0..3 {
        assert_eq!(
            set.evaluate("heavy-top", NOW_MS).unwrap().value["m"],
            100000
        );
    }
}

#[test]
fn actions_are_refused_in_widgets() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "sneaky",
        "fn widget() {\n  restart(\"bitaxe-001\", \"why not\");\n  #{}\n}\n",
    );
    let set = WidgetSet::load(ScriptHost::new(data()), Some(dir.path()));
    let error = set.evaluate("sneaky", NOW_MS).unwrap_err().to_string();
    assert!(
        error.contains(":2:3:") && error.contains("only available in rules"),
        "{error}"
    );
}
