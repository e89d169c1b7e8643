//! Every topic name hmm publishes or subscribes to, built in one place so that the
//! publisher, the discovery configs (which point Home Assistant at these topics) and the
//! command parser can never disagree.
//!
//! Names are turned into two kinds of tokens:
//! - a *topic segment* (`hmm/<segment>/state`): the miner's config name with only the
//!   characters MQTT forbids in a level replaced (`/ + #` and control characters), so topics
//!   stay readable. The names `bridge` and `widget` would collide with hmm's own topics and
//!   get a `miner_` prefix.
//! - a *slug* (`[a-z0-9_]`, runs collapsed): used in discovery object ids, `unique_id`s and
//!   entity ids, which HA restricts to those characters. Ids are joined with `-`, which a
//!   slug never contains, so `<instance>-miner-<slug>-<key>` is unambiguous.

/// Topic names of one bridge instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Root of hmm's own topics (`hmm`).
    pub base: String,
    /// Home Assistant discovery prefix (`homeassistant`).
    pub prefix: String,
    /// Slug of the instance id: discovery `node_id` and the first part of every unique id.
    pub node: String,
}

/// Which `set/<what>` a command topic names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// `set/mode`
    Mode,
    /// `set/restart`
    Restart,
    /// `set/enabled`
    Enabled,
    /// `set/pool`
    Pool,
}

impl CommandKind {
    /// Every command kind.
    pub const ALL: [CommandKind; 4] = [
        CommandKind::Mode,
        CommandKind::Restart,
        CommandKind::Enabled,
        CommandKind::Pool,
    ];

    /// The last topic level.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Mode => "mode",
            CommandKind::Restart => "restart",
            CommandKind::Enabled => "enabled",
            CommandKind::Pool => "pool",
        }
    }
}

impl Topics {
    /// Topic names for the given base topic, discovery prefix and instance id.
    pub fn new(base: &str, prefix: &str, instance_id: &str) -> Topics {
        Topics {
            base: base.to_string(),
            prefix: prefix.to_string(),
            node: slug(instance_id),
        }
    }

    /// `hmm/status`: `online`/`offline`, retained, the last will.
    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }

    /// `hmm/event`: command results, automation actions, notifications (not retained).
    pub fn event(&self) -> String {
        format!("{}/event", self.base)
    }

    /// `hmm/bridge/state`: version and fleet-level values (price, 24-hour cost).
    pub fn bridge_state(&self) -> String {
        format!("{}/bridge/state", self.base)
    }

    /// `hmm/<miner>/state`: retained JSON of every telemetry field.
    pub fn miner_state(&self, miner: &str) -> String {
        format!("{}/{}/state", self.base, topic_segment(miner))
    }

    /// `hmm/<miner>/availability`: `online`/`offline`, retained.
    pub fn miner_availability(&self, miner: &str) -> String {
        format!("{}/{}/availability", self.base, topic_segment(miner))
    }

    /// `hmm/<miner>/set/<what>`: where Home Assistant sends a command.
    pub fn miner_command(&self, miner: &str, kind: CommandKind) -> String {
        format!(
            "{}/{}/set/{}",
            self.base,
            topic_segment(miner),
            kind.as_str()
        )
    }

    /// `hmm/widget/<name>`: a widget's JSON result, retained.
    pub fn widget(&self, name: &str) -> String {
        format!("{}/widget/{}", self.base, level_safe(name))
    }

    /// The filter that receives every command: `hmm/+/set/+`.
    pub fn command_filter(&self) -> String {
        format!("{}/+/set/+", self.base)
    }

    /// Home Assistant's birth/will topic: `homeassistant/status`.
    pub fn ha_status(&self) -> String {
        format!("{}/status", self.prefix)
    }

    /// Every discovery config of this instance: `homeassistant/+/<node>/+/config`. Read at
    /// connect to find configs a previous run announced (see `discovery` for the sweep).
    pub fn discovery_filter(&self) -> String {
        format!("{}/+/{}/+/config", self.prefix, self.node)
    }

    /// `homeassistant/<component>/<node>/<object_id>/config`.
    pub fn discovery(&self, component: &str, object_id: &str) -> String {
        format!(
            "{}/{}/{}/{}/config",
            self.prefix, component, self.node, object_id
        )
    }

    /// Splits a command topic into (miner topic segment, kind); `None` if the topic is not
    /// `<base>/<segment>/set/<known kind>`. An unknown `<what>` is returned as `Err` with
    /// its text so the caller can explain the refusal.
    pub fn parse_command<'t>(
        &self,
        topic: &'t str,
    ) -> Option<(&'t str, Result<CommandKind, &'t str>)> {
        let rest = topic.strip_prefix(self.base.as_str())?.strip_prefix('/')?;
        let mut levels = rest.split('/');
        let (segment, set, what) = (levels.next()?, levels.next()?, levels.next()?);
        if set != "set" || levels.next().is_some() || segment.is_empty() {
            return None;
        }
        let kind = CommandKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == what)
            .ok_or(what);
        Some((segment, kind))
    }

    /// The object id part of one of this instance's discovery topics, if `topic` is one.
    pub fn discovery_object_id<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let rest = topic
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('/')?;
        let mut levels = rest.split('/');
        let (_component, node, object, config) = (
            levels.next()?,
            levels.next()?,
            levels.next()?,
            levels.next()?,
        );
        (node == self.node && config == "config" && levels.next().is_none()).then_some(object)
    }
}

/// Replaces what MQTT forbids inside one topic level (`/`, `+`, `#`, control characters).
fn level_safe(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if matches!(c, '/' | '+' | '#') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if cleaned.is_empty() {
        "_".to_string()
    } else {
        cleaned
    }
}

/// The topic level that stands for a miner: its config name made level-safe; `bridge` and
/// `widget` (hmm's own second levels) get a `miner_` prefix.
pub fn topic_segment(miner: &str) -> String {
    let safe = level_safe(miner);
    if safe == "bridge" || safe == "widget" {
        format!("miner_{safe}")
    } else {
        safe
    }
}

/// Lower-case `[a-z0-9_]` form of a name for ids: other characters become `_`, runs of `_`
/// collapse, and leading/trailing `_` are trimmed. A name with no usable character gets a
/// stable hash (`x` + 8 hex digits) so it still has an id.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        format!("x{:08x}", fnv1a(name.as_bytes()) as u32)
    } else {
        out
    }
}

/// FNV-1a, 64 bit: a tiny stable hash (std's hasher is randomly seeded per process).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_design_layout() {
        let topics = Topics::new("hmm", "homeassistant", "Loft Rig");
        assert_eq!(topics.node, "loft_rig");
        assert_eq!(topics.status(), "hmm/status");
        assert_eq!(topics.miner_state("bitaxe-1"), "hmm/bitaxe-1/state");
        assert_eq!(
            topics.miner_availability("a/b+c#"),
            "hmm/a_b_c_/availability"
        );
        assert_eq!(topics.miner_state("bridge"), "hmm/miner_bridge/state");
        assert_eq!(
            topics.miner_command("nano", CommandKind::Pool),
            "hmm/nano/set/pool"
        );
        assert_eq!(topics.widget("daily/cost"), "hmm/widget/daily_cost");
        assert_eq!(
            topics.discovery("sensor", "x-y"),
            "homeassistant/sensor/loft_rig/x-y/config"
        );
    }

    #[test]
    fn command_topics_parse_and_others_do_not() {
        let topics = Topics::new("site/hmm", "ha", "hmm");
        assert_eq!(
            topics.parse_command("site/hmm/bitaxe-1/set/mode"),
            Some(("bitaxe-1", Ok(CommandKind::Mode)))
        );
        assert_eq!(
            topics.parse_command("site/hmm/bitaxe-1/set/fan"),
            Some(("bitaxe-1", Err("fan")))
        );
        assert_eq!(topics.parse_command("site/hmm/bitaxe-1/state"), None);
        assert_eq!(topics.parse_command("site/hmmx/a/set/mode"), None);
        assert_eq!(topics.parse_command("site/hmm/a/set/mode/extra"), None);
        assert_eq!(
            topics.discovery_object_id("ha/sensor/hmm/hmm-miner-a-power/config"),
            Some("hmm-miner-a-power")
        );
        assert_eq!(
            topics.discovery_object_id("ha/sensor/other/hmm-miner-a-power/config"),
            None
        );
    }

    #[test]
    fn slugs_are_id_safe_and_stable() {
        assert_eq!(slug("Bitaxe-1"), "bitaxe_1");
        assert_eq!(slug("  Nano 3S (loft) "), "nano_3s_loft");
        assert_eq!(slug("__a__b__"), "a_b");
        let odd = slug("★★");
        assert!(odd.starts_with('x') && odd.len() == 9, "{odd}");
        assert_eq!(odd, slug("★★"));
        assert_ne!(odd, slug("☆☆"));
    }
}
