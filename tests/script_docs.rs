//! Runs every ```rhai example of docs/scripting.md against generated data: each must
//! evaluate without error, a stated `// => value` must be the result, and every host
//! function registered for scripts must be documented with an example.

use hmm::script::ScriptHost;
use hmm::script::testing::generated_fleet;

const NOW_MS: u64 = 1_790_000_000_000;

fn examples(doc: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut lines = doc.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim() == "```rhai" {
            let mut body = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            out.push((n + 1, body));
        }
    }
    out
}

#[test]
fn every_documented_example_runs_and_gives_its_stated_result() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scripting.md")).unwrap();
    let host = ScriptHost::new(generated_fleet(8, NOW_MS, 24, 60));
    let examples = examples(&doc);
    assert!(examples.len() >= 35, "only {} examples", examples.len());
    let mut checked = 0;
    for (line, source) in &examples {
        let (value, actions) = host
            .eval_snippet(source, NOW_MS)
            .unwrap_or_else(|e| panic!("docs/scripting.md:{line}: {e}\n{source}"));
        let got = hmm::script::engine::dynamic_to_json(&value);
        if let Some(expected) = source
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("// => "))
        {
            let want: serde_json::Value = serde_json::from_str(expected).unwrap_or_else(|e| {
                panic!("docs/scripting.md:{line}: bad expected value {expected}: {e}")
            });
            assert_eq!(got, want, "docs/scripting.md:{line}\n{source}");
            checked += 1;
        }
        let is_action = [
            "set_mode(",
            "restart(",
            "switch_pool(",
            "set_enabled(",
            "notify(",
            "publish(",
        ]
        .iter()
        .any(|f| source.trim_start().starts_with(f));
        assert_eq!(
            actions.len(),
            usize::from(is_action),
            "docs/scripting.md:{line}: {actions:?}"
        );
    }
    assert!(checked >= 30, "only {checked} stated results");
}

#[test]
fn every_host_function_is_documented() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scripting.md")).unwrap();
    // Every `register_fn("name"` in the host API source is a script function.
    let api =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/script/api.rs")).unwrap();
    let mut names: Vec<&str> = api
        .split("register_fn(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 35, "{names:?}");
    for name in names {
        assert!(
            doc.contains(&format!("### `{name}(")) || doc.contains(&format!("/ `{name}(")),
            "{name} is not documented in docs/scripting.md"
        );
    }
}
