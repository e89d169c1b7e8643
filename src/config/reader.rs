//! Walking a parsed TOML document while collecting every problem.
//!
//! serde's `deny_unknown_fields` stops at the first error and loses the line of most
//! semantic problems, so the config is parsed into toml's spanned [`DeTable`] and read
//! section by section with a [`Section`]: each typed getter records the key as known,
//! returns the default when the key is absent, and on a wrong type or value records an
//! error (with the value's line) and also returns the default, so reading always goes on.
//! [`Section::finish`] then reports every key nobody asked for, with a "did you mean".

use std::collections::BTreeSet;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::ConfigError;

/// Everything shared while reading one document: the text (to turn byte spans into
/// lines), the collected errors and the schema paths seen (for the example-file test).
pub(crate) struct Ctx<'s> {
    origin: &'s str,
    text: &'s str,
    pub(crate) errors: Vec<ConfigError>,
    /// Schema paths the reader asked for, such as `miners[].host`.
    pub(crate) known_paths: BTreeSet<String>,
    /// Schema paths present in the document.
    pub(crate) present_paths: BTreeSet<String>,
}

impl<'s> Ctx<'s> {
    pub(crate) fn new(origin: &'s str, text: &'s str) -> Ctx<'s> {
        Ctx {
            origin,
            text,
            errors: Vec::new(),
            known_paths: BTreeSet::new(),
            present_paths: BTreeSet::new(),
        }
    }

    /// Records a problem at `span` (an empty span means "no line known").
    pub(crate) fn error(&mut self, span: Range<usize>, field: &str, message: impl Into<String>) {
        let (line, _) = self.line_column_of(&span);
        self.errors.push(ConfigError {
            file: self.origin.to_string(),
            line,
            column: None,
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// Records a TOML syntax error with line and column.
    /// Records a TOML syntax error with line and column (the parser's recovery can report
    /// one mistake twice: exact repeats are dropped).
    pub(crate) fn syntax_error(&mut self, span: Option<Range<usize>>, message: &str) {
        let (line, column) = span.map_or((None, None), |span| self.line_column(span.start));
        let error = ConfigError {
            file: self.origin.to_string(),
            line,
            column,
            field: "toml".to_string(),
            message: format!("syntax error: {}", message.trim()),
        };
        if !self.errors.contains(&error) {
            self.errors.push(error);
        }
    }

    /// Line and column of a value's span; the empty span `0..0` (the document root, which
    /// has no header) has none.
    fn line_column_of(&self, span: &Range<usize>) -> (Option<usize>, Option<usize>) {
        if span.start == 0 && span.end == 0 {
            return (None, None);
        }
        self.line_column(span.start)
    }

    fn line_column(&self, offset: usize) -> (Option<usize>, Option<usize>) {
        let Some(before) = self.text.get(..offset) else {
            return (None, None);
        };
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        let column = before[line_start..].chars().count() + 1;
        (Some(line), Some(column))
    }
}

/// One TOML table being read (or an absent one, read as all defaults).
pub(crate) struct Section<'a, 'i> {
    table: Option<&'a DeTable<'i>>,
    span: Range<usize>,
    /// Field path prefix for messages: `""`, `energy`, `miners[2]`.
    path: String,
    /// Schema path prefix: `""`, `energy`, `miners[]`, `automation.rules.*`.
    schema: String,
    known: Vec<&'static str>,
}

/// What the TOML value is, for "expected X, found Y" messages.
fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

impl<'a, 'i> Section<'a, 'i> {
    /// The document root.
    pub(crate) fn root(table: &'a DeTable<'i>) -> Section<'a, 'i> {
        Section {
            table: Some(table),
            span: 0..0,
            path: String::new(),
            schema: String::new(),
            known: Vec::new(),
        }
    }

    /// Full field path of `key` in this section, for messages.
    pub(crate) fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// This section's own path (`miners[2]`).
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The span of `key`'s value, or of the table itself when the key is absent.
    pub(crate) fn span_of(&self, key: &str) -> Range<usize> {
        self.table
            .and_then(|table| table.get(key))
            .map_or_else(|| self.span.clone(), |value| value.span())
    }

    /// True when `key` is written in this table.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.table.is_some_and(|table| table.contains_key(key))
    }

    /// The span of the table (its header).
    pub(crate) fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// Looks `key` up, recording it as part of the schema.
    fn raw(&mut self, ctx: &mut Ctx<'_>, key: &'static str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.known.push(key);
        ctx.known_paths.insert(join(&self.schema, key));
        let value = self.table?.get(key)?;
        ctx.present_paths.insert(join(&self.schema, key));
        Some(value)
    }

    /// Looks `key` up and converts it with `pick`; a wrong type is reported as
    /// "expected {what}".
    fn typed<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        what: &str,
        pick: impl FnOnce(&'a DeValue<'i>) -> Option<T>,
    ) -> Option<(T, Range<usize>)> {
        let value = self.raw(ctx, key)?;
        match pick(value.get_ref()) {
            Some(picked) => Some((picked, value.span())),
            None => {
                let found = type_name(value.get_ref());
                ctx.error(
                    value.span(),
                    &self.field(key),
                    format!("expected {what}, found {found}"),
                );
                None
            }
        }
    }

    /// Reads a string and checks/converts it; absent or invalid gives `default`.
    pub(crate) fn parsed<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        default: T,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        let Some((text, span)) = self.typed(ctx, key, "a string", |value| value.as_str()) else {
            return default;
        };
        match check(text) {
            Ok(value) => value,
            Err(message) => {
                ctx.error(span, &self.field(key), message);
                default
            }
        }
    }

    /// Reads a string, any content allowed.
    pub(crate) fn string(&mut self, ctx: &mut Ctx<'_>, key: &'static str, default: &str) -> String {
        self.parsed(ctx, key, default.to_string(), |text| Ok(text.to_string()))
    }

    /// Reads an optional string; an empty string counts as absent.
    pub(crate) fn opt_string(&mut self, ctx: &mut Ctx<'_>, key: &'static str) -> Option<String> {
        Some(self.string(ctx, key, "")).filter(|text| !text.is_empty())
    }

    /// Reads a boolean.
    pub(crate) fn bool(&mut self, ctx: &mut Ctx<'_>, key: &'static str, default: bool) -> bool {
        self.typed(ctx, key, "true or false", |value| value.as_bool())
            .map_or(default, |(value, _)| value)
    }

    /// Reads a humantime duration string ("30s", "7d") within `min..=max`.
    pub(crate) fn duration(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        default: &str,
        min: Duration,
        max: Duration,
    ) -> Duration {
        let fallback = humantime::parse_duration(default).unwrap_or(min);
        let what = format!("a duration string such as \"{default}\" (units: ms, s, m, h, d)");
        let Some((text, span)) = self.typed(ctx, key, &what, |value| value.as_str()) else {
            return fallback;
        };
        let parsed = match humantime::parse_duration(text.trim()) {
            Ok(parsed) => parsed,
            Err(error) => {
                ctx.error(
                    span,
                    &self.field(key),
                    format!("\"{text}\" is not a duration ({error}); write e.g. \"{default}\""),
                );
                return fallback;
            }
        };
        if parsed < min || parsed > max {
            ctx.error(
                span,
                &self.field(key),
                format!(
                    "{} is out of range: must be from {} to {}",
                    text.trim(),
                    short_duration(min),
                    short_duration(max)
                ),
            );
            return fallback;
        }
        parsed
    }

    /// Reads an integer within `min..=max`.
    pub(crate) fn integer(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        default: i64,
        min: i64,
        max: i64,
    ) -> i64 {
        let what = "an integer (no quotes)";
        let Some((number, span)) = self.typed(ctx, key, what, |value| value.as_integer()) else {
            return default;
        };
        match i64::from_str_radix(number.as_str(), number.radix()) {
            Ok(value) if (min..=max).contains(&value) => value,
            _ => {
                ctx.error(
                    span,
                    &self.field(key),
                    format!("{number} is out of range: must be from {min} to {max}"),
                );
                default
            }
        }
    }

    /// Reads an optional number (integer or float) within `min..=max`; `unit` is appended
    /// to the numbers in the message.
    pub(crate) fn opt_number(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        min: f64,
        max: f64,
        unit: &str,
    ) -> Option<f64> {
        let (number, span) = self.typed(ctx, key, "a number (no quotes)", |value| match value {
            DeValue::Float(float) => float.as_str().parse::<f64>().ok(),
            DeValue::Integer(int) => i64::from_str_radix(int.as_str(), int.radix())
                .ok()
                .map(|int| int as f64),
            _ => None,
        })?;
        if number.is_finite() && (min..=max).contains(&number) {
            return Some(number);
        }
        ctx.error(
            span,
            &self.field(key),
            format!("{number}{unit} is out of range: must be from {min}{unit} to {max}{unit}"),
        );
        None
    }

    /// Reads a number with a default.
    pub(crate) fn number(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        default: f64,
        min: f64,
        max: f64,
        unit: &str,
    ) -> f64 {
        self.opt_number(ctx, key, min, max, unit).unwrap_or(default)
    }

    /// Reads an array of strings, each with its span (for later cross-checks).
    pub(crate) fn string_list(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        default: &[&str],
    ) -> Vec<Spanned<String>> {
        let what = "an array of strings such as [\"a\", \"b\"]";
        let Some((items, _)) = self.typed(ctx, key, what, |value| value.as_array()) else {
            return default
                .iter()
                .map(|text| Spanned::new(0..0, text.to_string()))
                .collect();
        };
        let mut list = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match item.get_ref().as_str() {
                Some(text) => list.push(Spanned::new(item.span(), text.to_string())),
                None => ctx.error(
                    item.span(),
                    &format!("{}[{index}]", self.field(key)),
                    format!("expected a string, found {}", type_name(item.get_ref())),
                ),
            }
        }
        list
    }

    /// The sub-table `key` (absent reads as an empty table).
    pub(crate) fn section(&mut self, ctx: &mut Ctx<'_>, key: &'static str) -> Section<'a, 'i> {
        let what = format!("a table ([{}])", self.field(key));
        let found = self.typed(ctx, key, &what, |value| value.as_table());
        self.child(found, self.field(key), join(&self.schema, key))
    }

    /// The array of tables `key` (`[[miners]]`), one section per entry.
    pub(crate) fn tables(&mut self, ctx: &mut Ctx<'_>, key: &'static str) -> Vec<Section<'a, 'i>> {
        let what = format!("an array of tables ([[{}]] blocks)", self.field(key));
        let Some((items, _)) = self.typed(ctx, key, &what, |value| value.as_array()) else {
            return Vec::new();
        };
        let schema = format!("{}[]", join(&self.schema, key));
        let mut sections = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let path = format!("{}[{index}]", self.field(key));
            match item.get_ref().as_table() {
                Some(table) => {
                    sections.push(self.child(Some((table, item.span())), path, schema.clone()))
                }
                None => ctx.error(
                    item.span(),
                    &path,
                    format!("expected a table, found {}", type_name(item.get_ref())),
                ),
            }
        }
        sections
    }

    /// Every entry of the table `key`, each a named sub-table (`[automation.rules."x"]`).
    pub(crate) fn named_tables(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
    ) -> Vec<(Spanned<String>, Section<'a, 'i>)> {
        let what = format!("a table ([{}.\"name\"] blocks)", self.field(key));
        let Some((table, _)) = self.typed(ctx, key, &what, |value| value.as_table()) else {
            return Vec::new();
        };
        let schema = format!("{}.*", join(&self.schema, key));
        let mut entries = Vec::new();
        for (name, value) in table.iter() {
            let path = format!("{}.\"{}\"", self.field(key), name.get_ref());
            let name = Spanned::new(name.span(), name.get_ref().to_string());
            match value.get_ref().as_table() {
                Some(entry) => entries.push((
                    name,
                    self.child(Some((entry, value.span())), path, schema.clone()),
                )),
                None => ctx.error(
                    value.span(),
                    &path,
                    format!("expected a table, found {}", type_name(value.get_ref())),
                ),
            }
        }
        entries
    }

    fn child(
        &self,
        found: Option<(&'a DeTable<'i>, Range<usize>)>,
        path: String,
        schema: String,
    ) -> Section<'a, 'i> {
        let (table, span) = match found {
            Some((table, span)) => (Some(table), span),
            None => (None, self.span.clone()),
        };
        Section {
            table,
            span,
            path,
            schema,
            known: Vec::new(),
        }
    }

    /// Reports every key of this table that no getter asked for.
    pub(crate) fn finish(self, ctx: &mut Ctx<'_>) {
        let Some(table) = self.table else { return };
        for (key, _) in table.iter() {
            let key_text: &str = key.get_ref();
            if self.known.contains(&key_text) {
                continue;
            }
            let mut message = match self.path.as_str() {
                "" => format!("unknown key \"{key_text}\""),
                path => format!("unknown key \"{key_text}\" in [{path}]"),
            };
            match suggest(key_text, &self.known) {
                Some(close) => message.push_str(&format!("; did you mean \"{close}\"?")),
                None => {
                    let mut known = self.known.clone();
                    known.sort_unstable();
                    message.push_str(&format!("; known keys: {}", known.join(", ")));
                }
            }
            ctx.error(key.span(), &self.field(key_text), message);
        }
    }
}

/// A duration the way a user writes it: "400d", "1h", "90s", "500ms".
pub(crate) fn short_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    let units = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ];
    for (size, unit) in units {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// The known key closest to `unknown` if it is plausibly a typo (edit distance at most 2,
/// or 1 for short keys, ignoring case and `-`/`_`).
fn suggest(unknown: &str, known: &[&'static str]) -> Option<&'static str> {
    let normalise = |text: &str| text.to_ascii_lowercase().replace('-', "_");
    let unknown = normalise(unknown);
    let limit = if unknown.chars().count() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|candidate| (edit_distance(&unknown, &normalise(candidate)), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, counting characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::{edit_distance, suggest};

    #[test]
    fn suggestions_catch_typos_but_not_unrelated_words() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            super::short_duration(std::time::Duration::from_secs(3650 * 86_400)),
            "3650d"
        );
        assert_eq!(
            super::short_duration(std::time::Duration::from_millis(1500)),
            "1500ms"
        );
        assert_eq!(
            suggest("poll_intervall", &["poll_interval", "data_dir"]),
            Some("poll_interval")
        );
        assert_eq!(
            suggest("Poll-Interval", &["poll_interval"]),
            Some("poll_interval")
        );
        assert_eq!(suggest("colour", &["poll_interval", "data_dir"]), None);
    }
}
