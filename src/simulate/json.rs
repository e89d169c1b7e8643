//! A tiny ordered JSON builder for the simulator's replies.
//!
//! Real devices emit keys in firmware order and format numbers their own way (cJSON's
//! 7-decimal rounding on AxeOS HEAD, float noise on old AxeOS, cgminer's `%f` with six
//! decimals in `"Wait":0.000000`). `serde_json::Map` sorts keys (the crate does not enable
//! `preserve_order`, and turning it on would change every other module), and it cannot
//! print `0.000000`. So replies are built as [`Json`] trees, whose objects keep insertion
//! order and whose numbers carry their own formatting, and rendered compact or indented.

/// One JSON value with the formatting decided at construction time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer, printed as is.
    Int(i64),
    /// A float printed in Rust's shortest round-trip form (`1071` for 1071.0); non-finite
    /// values print as `null` so a reply is never invalid JSON by accident.
    Float(f64),
    /// A number already formatted by the caller (e.g. cgminer `"%.6f"`). Must be valid JSON.
    Raw(String),
    /// A string, escaped on output.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object whose keys keep insertion order.
    Obj(Vec<(String, Json)>),
}

/// Indentation style of a rendered reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// No whitespace at all (AxeOS HEAD `cJSON_PrintBuffered(.., false)`, cgminer).
    Compact,
    /// cJSON_Print style: tab indentation, `"key":\tvalue` (AxeOS ≤ v2.10).
    Tabs,
}

/// Builder for an ordered object: `obj().field("a", 1).field("b", "x").build()`.
#[derive(Debug, Default)]
pub(crate) struct ObjBuilder {
    fields: Vec<(String, Json)>,
}

/// Starts an ordered object.
pub(crate) fn obj() -> ObjBuilder {
    ObjBuilder::default()
}

impl ObjBuilder {
    /// Appends one key (keys are not de-duplicated: callers build each key once).
    pub(crate) fn field(mut self, key: &str, value: impl Into<Json>) -> ObjBuilder {
        self.fields.push((key.to_string(), value.into()));
        self
    }

    /// Appends a key only when `value` is `Some`.
    pub(crate) fn field_opt(self, key: &str, value: Option<impl Into<Json>>) -> ObjBuilder {
        match value {
            Some(value) => self.field(key, value),
            None => self,
        }
    }

    /// Finishes the object.
    pub(crate) fn build(self) -> Json {
        Json::Obj(self.fields)
    }
}

impl From<bool> for Json {
    fn from(value: bool) -> Json {
        Json::Bool(value)
    }
}
impl From<i64> for Json {
    fn from(value: i64) -> Json {
        Json::Int(value)
    }
}
impl From<i32> for Json {
    fn from(value: i32) -> Json {
        Json::Int(i64::from(value))
    }
}
impl From<u16> for Json {
    fn from(value: u16) -> Json {
        Json::Int(i64::from(value))
    }
}
impl From<u32> for Json {
    fn from(value: u32) -> Json {
        Json::Int(i64::from(value))
    }
}
impl From<u64> for Json {
    fn from(value: u64) -> Json {
        Json::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}
impl From<f64> for Json {
    fn from(value: f64) -> Json {
        Json::Float(value)
    }
}
impl From<&str> for Json {
    fn from(value: &str) -> Json {
        Json::Str(value.to_string())
    }
}
impl From<String> for Json {
    fn from(value: String) -> Json {
        Json::Str(value)
    }
}
impl From<Vec<Json>> for Json {
    fn from(value: Vec<Json>) -> Json {
        Json::Arr(value)
    }
}

impl Json {
    /// Renders the value with the given layout.
    pub(crate) fn render(&self, layout: Layout) -> String {
        let mut out = String::with_capacity(512);
        write_value(&mut out, self, layout, 0);
        out
    }
}

/// Rounds to 7 decimals like AxeOS ≥ v2.12 (`cJSON_AddFloatToObject`, factor 1e7).
pub(crate) fn round7(value: f64) -> f64 {
    (value * 1e7).round() / 1e7
}

/// The float→double noise of firmware that stored a value in a C `float` and printed it
/// as a double (`"power": 2.65000009536743`), as old AxeOS did.
pub(crate) fn float_noise(value: f64) -> f64 {
    f64::from(value as f32)
}

fn write_value(out: &mut String, value: &Json, layout: Layout, depth: usize) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Json::Int(number) => out.push_str(&number.to_string()),
        Json::Float(number) if number.is_finite() => out.push_str(&number.to_string()),
        Json::Float(_) => out.push_str("null"),
        Json::Raw(text) => out.push_str(text),
        Json::Str(text) => write_string(out, text),
        Json::Arr(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                newline(out, layout, depth + 1);
                write_value(out, item, layout, depth + 1);
            }
            if !items.is_empty() {
                newline(out, layout, depth);
            }
            out.push(']');
        }
        Json::Obj(fields) => {
            out.push('{');
            for (index, (key, item)) in fields.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                newline(out, layout, depth + 1);
                write_string(out, key);
                out.push(':');
                match layout {
                    Layout::Compact => {}
                    Layout::Tabs => out.push('\t'),
                }
                write_value(out, item, layout, depth + 1);
            }
            if !fields.is_empty() {
                newline(out, layout, depth);
            }
            out.push('}');
        }
    }
}

fn newline(out: &mut String, layout: Layout, depth: usize) {
    match layout {
        Layout::Compact => {}
        Layout::Tabs => {
            out.push('\n');
            out.extend(std::iter::repeat_n('\t', depth));
        }
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_keeps_key_order_and_raw_numbers() {
        let value = obj()
            .field("z", 1)
            .field("a", Json::Raw("0.000000".into()))
            .field("s", "q\"\r")
            .field("n", f64::NAN)
            .field("f", 1071.0)
            .build();
        assert_eq!(
            value.render(Layout::Compact),
            r#"{"z":1,"a":0.000000,"s":"q\"\r","n":null,"f":1071}"#
        );
    }

    #[test]
    fn tabs_layout_is_valid_json() {
        let value = obj()
            .field("a", vec![Json::Int(1), Json::Int(2)])
            .field("b", obj().build())
            .build();
        let text = value.render(Layout::Tabs);
        assert!(text.contains("\"a\":\t["));
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["a"][1], 2);
    }

    #[test]
    fn rounding_helpers_match_firmware_styles() {
        assert_eq!(round7(1082.65136719999), 1082.6513672);
        assert_eq!(float_noise(2.65).to_string(), "2.6500000953674316");
    }
}
