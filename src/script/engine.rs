//! The sandboxed rhai engine and the set of compiled scripts.
//!
//! One [`rhai::Engine`] per script host, with every limit set (operations, call levels,
//! expression depth, string, array and map sizes), `eval` disabled and a module resolver
//! that resolves nothing, so a script can reach the world only through the host functions
//! in `api.rs`. Scripts are compiled once to an AST and their functions are called with
//! `eval_ast(false)`: rhai's default `call_fn` would re-run the file's top level on every
//! call (ecosystem.md §3.5). [`ScriptSet::reload`] recompiles a file whose mtime or size
//! changed; a failed compile keeps the last good AST serving and records a
//! `file:line:col: message` error for the log, the status page and `hmm status`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, Scope};

/// Most operations one call may run: a widget over 100 miners needs a few thousand; an
/// endless loop is stopped after this many (well under a second).
pub const MAX_OPERATIONS: u64 = 500_000;
/// Deepest script function nesting (recursion included).
pub const MAX_CALL_LEVELS: usize = 32;
/// Longest string a script may build, bytes.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Largest array a script may build.
pub const MAX_ARRAY_LEN: usize = 16_384;
/// Largest object map a script may build.
pub const MAX_MAP_LEN: usize = 4_096;

/// A script problem located in its file: a compile error, a missing entry function or a
/// runtime error. Displayed as `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// The file (a path for user files, `builtin:widgets/x.rhai` for embedded ones).
    pub file: String,
    /// 1-based line, 0 when the error has no position.
    pub line: usize,
    /// 1-based column, 0 when the error has no position.
    pub col: usize,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ScriptError {}

impl ScriptError {
    /// An error not tied to a position in the file.
    pub(crate) fn whole_file(file: &str, message: impl Into<String>) -> ScriptError {
        ScriptError {
            file: file.to_string(),
            line: 1,
            col: 1,
            message: message.into(),
        }
    }

    /// Converts a rhai runtime error, keeping its position and dropping rhai's own
    /// "(line x, position y)" suffix.
    pub(crate) fn from_eval(file: &str, mut err: Box<EvalAltResult>) -> ScriptError {
        let mut pos = err.take_position();
        // Errors inside a called script function carry the position of the inner error.
        if let EvalAltResult::ErrorInFunctionCall(_, _, inner, outer) = err.as_ref() {
            if !inner.position().is_none() {
                pos = inner.position();
            } else if pos.is_none() {
                pos = *outer;
            }
        }
        ScriptError {
            file: file.to_string(),
            line: pos.line().unwrap_or(0),
            col: pos.position().unwrap_or(0),
            message: err.to_string(),
        }
    }
}

/// Builds the sandboxed engine without any host function (api.rs adds those).
pub fn sandboxed_engine() -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(MAX_OPERATIONS)
        .set_max_call_levels(MAX_CALL_LEVELS)
        .set_max_expr_depths(64, 32)
        .set_max_string_size(MAX_STRING_BYTES)
        .set_max_array_size(MAX_ARRAY_LEN)
        .set_max_map_size(MAX_MAP_LEN)
        .set_max_variables(512)
        .set_max_functions(512)
        .disable_symbol("eval");
    // Engine::new() installs a FileModuleResolver: `import "x"` would read files.
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    // Scripts never write to our stdout (which `hmm widget run --json` owns).
    engine.on_print(|text| log::info!("script: {text}"));
    engine.on_debug(|text, source, pos| {
        log::debug!("script {}:{pos}: {text}", source.unwrap_or("?"))
    });
    engine
}

/// Where a script's source comes from.
#[derive(Debug, Clone)]
enum Origin {
    /// Embedded default with its display name.
    Builtin(&'static str),
    /// A user file, overriding the builtin of the same name if any.
    File(PathBuf),
}

/// One script: its current good AST (if it ever compiled) and its latest error.
struct Entry {
    origin: Origin,
    /// mtime and size of the file when last compiled (or attempted).
    stamp: Option<(SystemTime, u64)>,
    ast: Option<Arc<AST>>,
    compile_error: Option<ScriptError>,
    runtime_error: Option<ScriptError>,
}

impl Entry {
    fn display_file(&self) -> String {
        match &self.origin {
            Origin::Builtin(name) => format!("builtin:{name}"),
            Origin::File(path) => path.display().to_string(),
        }
    }
}

/// A named set of scripts of one kind (widgets or rules) sharing one entry function name.
///
/// Built-in scripts come from `include_str!` tables; files named `<name>.rhai` in the
/// user's directory add scripts or override built-ins. Thread-safe: evaluation takes a
/// read lock only long enough to clone the `Arc<AST>`.
pub struct ScriptSet {
    entry_fn: &'static str,
    dir: Option<PathBuf>,
    builtins: &'static [(&'static str, &'static str)],
    entries: RwLock<BTreeMap<String, Entry>>,
}

impl ScriptSet {
    /// Loads the built-ins and the user directory (if any), compiling everything.
    /// `builtins` is `(name, source)`; `entry_fn` is `widget` or `rule`.
    pub fn load(
        engine: &Engine,
        entry_fn: &'static str,
        builtins: &'static [(&'static str, &'static str)],
        dir: Option<&Path>,
    ) -> ScriptSet {
        let set = ScriptSet {
            entry_fn,
            dir: dir.map(Path::to_path_buf),
            builtins,
            entries: RwLock::new(BTreeMap::new()),
        };
        {
            let mut entries = set.entries.write().unwrap_or_else(|e| e.into_inner());
            for (name, source) in builtins {
                let mut entry = Entry {
                    origin: Origin::Builtin(builtin_display(entry_fn, name)),
                    stamp: None,
                    ast: None,
                    compile_error: None,
                    runtime_error: None,
                };
                set.compile_into(engine, &mut entry, source);
                entries.insert((*name).to_string(), entry);
            }
        }
        set.reload(engine);
        set
    }

    /// Checks the user directory for new, changed or removed `*.rhai` files and recompiles
    /// those. Cheap when nothing changed (one `read_dir` and a `metadata` per file). Returns
    /// the names that were (re)compiled or reverted.
    pub fn reload(&self, engine: &Engine) -> Vec<String> {
        let mut changed = Vec::new();
        let files = self.dir.as_deref().map(list_rhai_files).unwrap_or_default();
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        for (name, path, stamp) in &files {
            let entry = entries.entry(name.clone()).or_insert_with(|| Entry {
                origin: Origin::File(path.clone()),
                stamp: None,
                ast: None,
                compile_error: None,
                runtime_error: None,
            });
            if matches!(entry.origin, Origin::Builtin(_)) {
                // A user file now overrides the builtin: start from the file.
                entry.origin = Origin::File(path.clone());
                entry.stamp = None;
            }
            if entry.stamp.as_ref() == Some(stamp) {
                continue;
            }
            entry.stamp = Some(*stamp);
            match std::fs::read_to_string(path) {
                Ok(source) => self.compile_into(engine, entry, &source),
                Err(err) => {
                    let error = ScriptError::whole_file(
                        &path.display().to_string(),
                        format!("cannot read the script: {err}"),
                    );
                    log::warn!("{error}");
                    entry.compile_error = Some(error);
                }
            }
            changed.push(name.clone());
        }
        // Files that disappeared: fall back to the builtin, or drop a user-only script.
        let gone: Vec<String> = entries
            .iter()
            .filter(|(name, entry)| {
                matches!(entry.origin, Origin::File(_)) && !files.iter().any(|(n, _, _)| n == *name)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            entries.remove(&name);
            if let Some((_, source)) = self.builtins.iter().find(|(n, _)| *n == name) {
                let mut entry = Entry {
                    origin: Origin::Builtin(builtin_display(self.entry_fn, &name)),
                    stamp: None,
                    ast: None,
                    compile_error: None,
                    runtime_error: None,
                };
                self.compile_into(engine, &mut entry, source);
                entries.insert(name.clone(), entry);
            }
            changed.push(name);
        }
        changed
    }

    /// Compiles `source` into `entry`; on failure the previous AST stays.
    fn compile_into(&self, engine: &Engine, entry: &mut Entry, source: &str) {
        let file = entry.display_file();
        match compile_checked(engine, &file, source, self.entry_fn) {
            Ok(ast) => {
                entry.ast = Some(Arc::new(ast));
                entry.compile_error = None;
                entry.runtime_error = None;
            }
            Err(error) => {
                if entry.ast.is_some() {
                    log::warn!("{error} (the last good version keeps running)");
                } else {
                    log::warn!("{error}");
                }
                entry.compile_error = Some(error);
            }
        }
    }

    /// Names of every script that has a runnable version.
    pub fn names(&self) -> Vec<String> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .filter(|(_, e)| e.ast.is_some())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Whether a script of that name exists (runnable or not).
    pub fn contains(&self, name: &str) -> bool {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.contains_key(name)
    }

    /// The current good AST of a script and its display file name.
    pub(crate) fn ast(&self, name: &str) -> Option<(Arc<AST>, String)> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(name)?;
        Some((entry.ast.clone()?, entry.display_file()))
    }

    /// Every current error: compile errors (the last good version may still run) and the
    /// latest runtime error of each script, ordered by script name.
    pub fn errors(&self) -> Vec<ScriptError> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .values()
            .flat_map(|e| e.compile_error.iter().chain(e.runtime_error.iter()))
            .cloned()
            .collect()
    }

    /// Calls the entry function of `name` (top level not re-run), recording or clearing
    /// its runtime error.
    pub(crate) fn call_entry(
        &self,
        engine: &Engine,
        name: &str,
        tag: Dynamic,
    ) -> Result<Dynamic, ScriptError> {
        self.call(engine, name, self.entry_fn, tag)
    }

    /// Calls a function of a script with no arguments and the given call tag.
    pub(crate) fn call(
        &self,
        engine: &Engine,
        name: &str,
        fn_name: &str,
        tag: Dynamic,
    ) -> Result<Dynamic, ScriptError> {
        let Some((ast, file)) = self.ast(name) else {
            return Err(self.missing(name));
        };
        let options = CallFnOptions::new()
            .eval_ast(false)
            .rewind_scope(true)
            .with_tag(tag);
        let result =
            engine.call_fn_with_options::<Dynamic>(options, &mut Scope::new(), &ast, fn_name, ());
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get_mut(name);
        match result {
            Ok(value) => {
                if fn_name == self.entry_fn
                    && let Some(entry) = entry
                {
                    entry.runtime_error = None;
                }
                Ok(value)
            }
            Err(err) => {
                let error = ScriptError::from_eval(&file, err);
                if let Some(entry) = entry {
                    entry.runtime_error = Some(error.clone());
                }
                Err(error)
            }
        }
    }

    /// Whether script `name` defines a function `fn_name` without parameters.
    pub(crate) fn has_fn(&self, name: &str, fn_name: &str) -> bool {
        self.ast(name).is_some_and(|(ast, _)| {
            ast.iter_functions()
                .any(|f| f.name == fn_name && f.params.is_empty())
        })
    }

    fn missing(&self, name: &str) -> ScriptError {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(name) {
            Some(entry) => entry.compile_error.clone().unwrap_or_else(|| {
                ScriptError::whole_file(&entry.display_file(), "the script never compiled")
            }),
            None => ScriptError::whole_file(
                name,
                format!(
                    "no {} named '{name}' (known: {})",
                    self.entry_fn,
                    entries.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ),
        }
    }
}

fn builtin_display(entry_fn: &str, name: &str) -> &'static str {
    // Leaked once per builtin at load: a handful of short strings for the program's life.
    let folder = if entry_fn == "widget" {
        "widgets"
    } else {
        "scripts"
    };
    Box::leak(format!("{folder}/{name}.rhai").into_boxed_str())
}

/// Compiles a script, requires its entry function, and runs its top level once in a
/// throw-away scope so top-level mistakes (an `import`, a runaway loop) surface now, as a
/// load error, instead of never (calls do not run the top level).
pub(crate) fn compile_checked(
    engine: &Engine,
    file: &str,
    source: &str,
    entry_fn: &str,
) -> Result<AST, ScriptError> {
    let mut ast = engine.compile(source).map_err(|err| {
        let pos = err.position();
        ScriptError {
            file: file.to_string(),
            line: pos.line().unwrap_or(0),
            col: pos.position().unwrap_or(0),
            message: err.err_type().to_string(),
        }
    })?;
    ast.set_source(file.to_string());
    if !ast
        .iter_functions()
        .any(|f| f.name == entry_fn && f.params.is_empty())
    {
        return Err(ScriptError::whole_file(
            file,
            format!("the script defines no `fn {entry_fn}()`"),
        ));
    }
    engine
        .run_ast_with_scope(&mut Scope::new(), &ast)
        .map_err(|err| ScriptError::from_eval(file, err))?;
    Ok(ast)
}

/// `*.rhai` files directly in `dir`: (name without extension, path, (mtime, size)).
fn list_rhai_files(dir: &Path) -> Vec<(String, PathBuf, (SystemTime, u64))> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for item in read.flatten() {
        let path = item.path();
        if path.extension().and_then(|e| e.to_str()) != Some("rhai") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let Ok(meta) = item.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        files.push((name.to_string(), path.clone(), (mtime, meta.len())));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Converts a script result to JSON. Maps become objects, arrays arrays, `()` null;
/// non-finite floats become null (JSON has no NaN). Other types are written as text.
///
/// Reads every value through a reference: a widget's result is a few hundred nested
/// values, and cloning a `Dynamic` to test its type would deep-copy a whole array or map
/// at every level of the walk. Keys are copied as plain strings (`to_string` would go
/// through the formatter for each of them).
pub fn dynamic_to_json(value: &Dynamic) -> serde_json::Value {
    use serde_json::Value;
    if value.is_unit() {
        return Value::Null;
    }
    if let Ok(b) = value.as_bool() {
        return Value::Bool(b);
    }
    if let Ok(i) = value.as_int() {
        return Value::from(i);
    }
    if let Ok(f) = value.as_float() {
        return serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number);
    }
    if let Ok(text) = value.as_immutable_string_ref() {
        return Value::String(text.as_str().to_string());
    }
    if let Ok(array) = value.as_array_ref() {
        return Value::Array(array.iter().map(dynamic_to_json).collect());
    }
    if let Ok(map) = value.as_map_ref() {
        return Value::Object(
            map.iter()
                .map(|(k, v)| (String::from(k.as_str()), dynamic_to_json(v)))
                .collect(),
        );
    }
    Value::String(value.to_string())
}
