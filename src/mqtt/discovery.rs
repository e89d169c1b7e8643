//! Home Assistant discovery configs, one retained message per entity on the per-component
//! topic `<prefix>/<component>/<node>/<object_id>/config`, which every HA version since
//! 2022 understands (device-based discovery needs 2024.11).
//!
//! Identity: `unique_id` = object id = `<instance>-miner-<slug(config name)>-<key>` (or
//! `-bridge-<key>`, `-widget-<slug(name)>`). The miner's config name is used, not its MAC
//! or serial: not every driver reports one (NMMiner over UDP, some Avalon firmware), and
//! those that do only report it after the first successful poll, so an id built from it
//! would change under HA (orphaning the entity and its statistics) or be missing at start.
//! The config name is known before the first poll, is the miner's key in the store, and
//! only changes when the user renames the miner, which hmm treats as a new miner anyway.
//! The instance id in front keeps two hmm instances on one broker apart.
//!
//! Units are fixed per entity forever (HA stops compiling statistics when a unit changes):
//! hashrate is always TH/s. Configs are structs serialised in field order, so an unchanged
//! config is byte-identical and is not re-sent when nothing changed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::state::{MinerInfo, WidgetSensor};
use super::topics::{CommandKind, Topics, slug};
use crate::model::MinerKind;

/// Who this bridge is: the instance id (used in every unique id) and the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeIdentity {
    /// `instance_id` from the config.
    pub instance_id: String,
    /// hmm's version (HA `sw_version` of the bridge device and `origin`).
    pub version: String,
}

/// The `origin` block: which software announced the entity (HA shows it in the logs).
#[derive(Debug, Serialize)]
struct Origin {
    name: &'static str,
    sw_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    support_url: Option<&'static str>,
}

/// The `device` block.
#[derive(Debug, Serialize)]
struct Device {
    identifiers: Vec<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sw_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    configuration_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    via_device: Option<String>,
}

/// One entry of the `availability` list.
#[derive(Debug, Serialize)]
struct Availability {
    topic: String,
    payload_available: &'static str,
    payload_not_available: &'static str,
}

/// One entity's discovery config. Fields HA does not need for a component are left out.
#[derive(Debug, Serialize)]
struct EntityConfig {
    name: String,
    unique_id: String,
    default_entity_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_of_measurement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suggested_display_precision: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_category: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icon: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command_topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_press: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_on: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_off: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retain: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    availability: Vec<Availability>,
    #[serde(skip_serializing_if = "Option::is_none")]
    availability_mode: Option<&'static str>,
    qos: u8,
    device: Device,
    origin: Origin,
}

/// What one entity is, before the shared parts (device, availability, origin) are added.
struct Entity {
    component: &'static str,
    key: String,
    name: String,
    device_class: Option<&'static str>,
    state_class: Option<&'static str>,
    unit: Option<&'static str>,
    precision: Option<u8>,
    category: Option<&'static str>,
    icon: Option<&'static str>,
    template: String,
    /// The miner state field the template reads, for sensors announced only to miners
    /// that report it ([`MinerInfo::reports`]).
    field: Option<&'static str>,
}

impl Entity {
    fn sensor(key: &str, name: &str, template: &str) -> Entity {
        Entity {
            component: "sensor",
            key: key.to_string(),
            name: name.to_string(),
            device_class: None,
            state_class: None,
            unit: None,
            precision: None,
            category: None,
            icon: None,
            template: template.to_string(),
            field: None,
        }
    }

    /// A sensor showing one field of the miner's state JSON.
    fn reading(key: &str, name: &str, field: &'static str) -> Entity {
        let template = format!("{{{{ value_json.{field} }}}}");
        Entity {
            field: Some(field),
            ..Entity::sensor(key, name, &template)
        }
    }

    fn class(mut self, device_class: &'static str) -> Entity {
        self.device_class = Some(device_class);
        self
    }

    fn state(mut self, state_class: &'static str) -> Entity {
        self.state_class = Some(state_class);
        self
    }

    fn unit(mut self, unit: &'static str) -> Entity {
        self.unit = Some(unit);
        self
    }

    fn precision(mut self, digits: u8) -> Entity {
        self.precision = Some(digits);
        self
    }

    fn diagnostic(mut self) -> Entity {
        self.category = Some("diagnostic");
        self
    }

    fn icon(mut self, icon: &'static str) -> Entity {
        self.icon = Some(icon);
        self
    }
}

/// The sensors every miner gets, reading its one JSON state topic.
fn miner_sensors() -> Vec<Entity> {
    vec![
        Entity::reading("hashrate", "Hashrate", "hashrate_ths")
            .state("measurement")
            .unit("TH/s")
            .precision(3)
            .icon("mdi:pickaxe"),
        Entity::reading("power", "Power", "power_w")
            .class("power")
            .state("measurement")
            .unit("W")
            .precision(1),
        Entity::reading("energy", "Energy", "energy_kwh")
            .class("energy")
            .state("total_increasing")
            .unit("kWh")
            .precision(3),
        Entity::reading("temp", "Temperature", "temp_c")
            .class("temperature")
            .state("measurement")
            .unit("°C")
            .precision(1),
        Entity::reading("vr_temp", "VR temperature", "vr_temp_c")
            .class("temperature")
            .state("measurement")
            .unit("°C")
            .precision(1),
        Entity::reading("efficiency", "Efficiency", "efficiency_j_th")
            .state("measurement")
            .unit("J/TH")
            .precision(1)
            .icon("mdi:leaf"),
        Entity::reading("fan", "Fan speed", "fan_rpm")
            .state("measurement")
            .unit("rpm")
            .icon("mdi:fan")
            .diagnostic(),
        Entity::reading("frequency", "ASIC frequency", "frequency_mhz")
            .class("frequency")
            .state("measurement")
            .unit("MHz")
            .diagnostic(),
        Entity::reading("core_voltage", "Core voltage", "core_voltage_mv")
            .class("voltage")
            .state("measurement")
            .unit("mV")
            .diagnostic(),
        Entity::reading("shares_accepted", "Shares accepted", "shares_accepted")
            .state("total_increasing")
            .icon("mdi:check-circle-outline"),
        Entity::reading("shares_rejected", "Shares rejected", "shares_rejected")
            .state("total_increasing")
            .icon("mdi:close-circle-outline"),
        Entity::reading("best_diff", "Best difficulty", "best_diff")
            .state("measurement")
            .precision(0)
            .icon("mdi:trophy-outline"),
        // Uptime: duration in s, no state class (it changes every poll; long-term
        // statistics of it are noise and recorder load).
        Entity::reading("uptime", "Uptime", "uptime_s")
            .class("duration")
            .unit("s")
            .diagnostic(),
        Entity::reading("mode", "Mode", "mode").icon("mdi:speedometer"),
        Entity::reading("pool", "Pool", "pool")
            .icon("mdi:server-network")
            .diagnostic(),
        // No error is the normal case: show "none" rather than HA's "unknown".
        Entity::sensor(
            "last_error",
            "Last error",
            "{{ value_json.last_error if value_json.last_error is not none else 'none' }}",
        )
        .icon("mdi:alert-circle-outline")
        .diagnostic(),
    ]
}

/// The manufacturer HA shows for a miner, from its protocol family.
fn manufacturer(kind: Option<MinerKind>) -> Option<String> {
    match kind? {
        MinerKind::Axeos => Some("Bitaxe / AxeOS".into()),
        MinerKind::Avalon => Some("Canaan".into()),
        MinerKind::Nmminer => Some("NMMiner".into()),
        MinerKind::Auto => None,
    }
}

/// Builds every discovery config of one bridge; pure, so it is unit-tested without MQTT.
pub(crate) struct ConfigBuilder<'a> {
    pub(crate) topics: &'a Topics,
    pub(crate) identity: &'a BridgeIdentity,
}

/// A discovery topic and its JSON payload.
pub(crate) type Config = (String, String);

impl ConfigBuilder<'_> {
    /// `<instance>-bridge`: identifier of the hmm device, the miners' `via_device`.
    fn bridge_identifier(&self) -> String {
        format!("{}-bridge", self.topics.node)
    }

    fn origin(&self) -> Origin {
        Origin {
            name: "hmm",
            sw_version: self.identity.version.clone(),
            support_url: option_env!("CARGO_PKG_REPOSITORY").filter(|url| !url.is_empty()),
        }
    }

    fn availability(&self, topic: String) -> Availability {
        let _ = self;
        Availability {
            topic,
            payload_available: "online",
            payload_not_available: "offline",
        }
    }

    fn bridge_device(&self) -> Device {
        Device {
            identifiers: vec![self.bridge_identifier()],
            name: format!("hmm {}", self.identity.instance_id),
            manufacturer: Some("hmm".into()),
            model: Some("Home Miner Manager".into()),
            sw_version: Some(self.identity.version.clone()),
            configuration_url: None,
            via_device: None,
        }
    }

    fn miner_device(&self, miner: &MinerInfo) -> Device {
        Device {
            identifiers: vec![format!("{}-miner-{}", self.topics.node, slug(&miner.name))],
            name: miner.name.clone(),
            manufacturer: manufacturer(miner.kind),
            model: miner
                .model
                .clone()
                .or_else(|| miner.kind.map(|k| k.as_str().to_string())),
            sw_version: miner.firmware.clone(),
            configuration_url: miner
                .config_url
                .clone()
                .filter(|url| url.starts_with("http://") || url.starts_with("https://")),
            via_device: Some(self.bridge_identifier()),
        }
    }

    /// Turns an entity into its (topic, payload). `id_part` is `miner-<slug>`, `bridge` or
    /// `widget`; `entity_hint` is the entity id without the domain.
    fn config(
        &self,
        entity: Entity,
        id_part: &str,
        entity_hint: String,
        state_topic: Option<String>,
        device: Device,
        availability: Vec<Availability>,
    ) -> Config {
        let object_id = format!("{}-{}-{}", self.topics.node, id_part, entity.key);
        let mode = (availability.len() > 1).then_some("all");
        let payload = EntityConfig {
            name: entity.name,
            unique_id: object_id.clone(),
            default_entity_id: format!("{}.{}", entity.component, entity_hint),
            device_class: entity.device_class.map(str::to_string),
            state_class: entity.state_class.map(str::to_string),
            unit_of_measurement: entity.unit.map(str::to_string),
            suggested_display_precision: entity.precision,
            entity_category: entity.category,
            icon: entity.icon,
            state_topic,
            value_template: (!entity.template.is_empty()).then_some(entity.template),
            command_topic: None,
            options: None,
            payload_press: None,
            payload_on: None,
            payload_off: None,
            retain: None,
            availability,
            availability_mode: mode,
            qos: 1,
            device,
            origin: self.origin(),
        };
        (
            self.topics.discovery(entity.component, &object_id),
            to_json(&payload),
        )
    }

    /// Configs of the bridge device: connectivity, version, miners online, Agile price,
    /// 24-hour cost.
    pub(crate) fn bridge_configs(&self) -> Vec<Config> {
        let node = &self.topics.node;
        let state = Some(self.topics.bridge_state());
        let mut configs = Vec::new();
        // Connectivity reads hmm/status itself and has no availability, so it shows
        // "disconnected" (not "unavailable") when the last will fires.
        let connectivity = EntityConfig {
            name: "Status".into(),
            unique_id: format!("{node}-bridge-status"),
            default_entity_id: format!("binary_sensor.{node}_status"),
            device_class: Some("connectivity".into()),
            state_class: None,
            unit_of_measurement: None,
            suggested_display_precision: None,
            entity_category: Some("diagnostic"),
            icon: None,
            state_topic: Some(self.topics.status()),
            value_template: None,
            command_topic: None,
            options: None,
            payload_press: None,
            payload_on: Some("online"),
            payload_off: Some("offline"),
            retain: None,
            availability: Vec::new(),
            availability_mode: None,
            qos: 1,
            device: self.bridge_device(),
            origin: self.origin(),
        };
        configs.push((
            self.topics
                .discovery("binary_sensor", &connectivity.unique_id),
            to_json(&connectivity),
        ));
        let entities = [
            Entity::sensor("version", "Version", "{{ value_json.version }}")
                .icon("mdi:information-outline")
                .diagnostic(),
            Entity::sensor(
                "miners_online",
                "Miners online",
                "{{ value_json.miners_online }}",
            )
            .state("measurement")
            .icon("mdi:server"),
            // Price per kWh: monetary allows only state class `total`, so the rate is a
            // plain measurement in GBP/kWh with no device class.
            Entity::sensor("price", "Agile price", "{{ value_json.price_gbp_kwh }}")
                .state("measurement")
                .unit("GBP/kWh")
                .precision(4)
                .icon("mdi:currency-gbp"),
            Entity::sensor(
                "cost_24h",
                "Cost last 24 h",
                "{{ value_json.cost_24h_gbp }}",
            )
            .class("monetary")
            .state("total")
            .unit("GBP")
            .precision(2),
        ];
        for entity in entities {
            let hint = format!("{node}_{}", entity.key);
            configs.push(self.config(
                entity,
                "bridge",
                hint,
                state.clone(),
                self.bridge_device(),
                vec![self.availability(self.topics.status())],
            ));
        }
        configs
    }

    /// Configs of one miner: its sensors and controls.
    pub(crate) fn miner_configs(&self, miner: &MinerInfo) -> Vec<Config> {
        let node = &self.topics.node;
        let miner_slug = slug(&miner.name);
        let id_part = format!("miner-{miner_slug}");
        let availability = || {
            vec![
                self.availability(self.topics.status()),
                self.availability(self.topics.miner_availability(&miner.name)),
            ]
        };
        let state = Some(self.topics.miner_state(&miner.name));
        let mut configs: Vec<Config> = miner_sensors()
            .into_iter()
            .filter(|entity| entity.field.is_none_or(|field| miner.reports(field)))
            .map(|entity| {
                let hint = format!("{node}_{miner_slug}_{}", entity.key);
                self.config(
                    entity,
                    &id_part,
                    hint,
                    state.clone(),
                    self.miner_device(miner),
                    availability(),
                )
            })
            .collect();
        let control = |component: &'static str, key: &str, name: &str, kind: CommandKind| {
            let hint = format!("{node}_{miner_slug}_{key}");
            let object_id = format!("{node}-{id_part}-{key}");
            EntityConfig {
                name: name.to_string(),
                unique_id: object_id,
                default_entity_id: format!("{component}.{hint}"),
                device_class: None,
                state_class: None,
                unit_of_measurement: None,
                suggested_display_precision: None,
                entity_category: None,
                icon: None,
                state_topic: None,
                value_template: None,
                command_topic: Some(self.topics.miner_command(&miner.name, kind)),
                options: None,
                payload_press: None,
                payload_on: None,
                payload_off: None,
                retain: Some(false),
                availability: availability(),
                availability_mode: Some("all"),
                qos: 1,
                device: self.miner_device(miner),
                origin: self.origin(),
            }
        };
        if !miner.modes.is_empty() {
            let mut select = control("select", "mode_select", "Mode", CommandKind::Mode);
            select.options = Some(miner.modes.iter().map(|m| m.as_str().to_string()).collect());
            select.state_topic = state.clone();
            select.value_template = Some("{{ value_json.mode }}".into());
            select.icon = Some("mdi:speedometer");
            select.entity_category = Some("config");
            configs.push(self.finish("select", select));
        }
        if miner.can_restart {
            let mut restart = control("button", "restart", "Restart", CommandKind::Restart);
            restart.device_class = Some("restart".into());
            restart.payload_press = Some("PRESS");
            restart.entity_category = Some("config");
            restart.retain = None;
            configs.push(self.finish("button", restart));
        }
        if miner.can_pause {
            let mut enabled = control("switch", "enabled", "Mining enabled", CommandKind::Enabled);
            enabled.state_topic = state.clone();
            enabled.value_template = Some("{{ 'ON' if value_json.enabled else 'OFF' }}".into());
            enabled.payload_on = Some("ON");
            enabled.payload_off = Some("OFF");
            enabled.icon = Some("mdi:pickaxe");
            configs.push(self.finish("switch", enabled));
        }
        if !miner.pools.is_empty() {
            let mut select = control("select", "pool_select", "Pool", CommandKind::Pool);
            select.options = Some(miner.pools.clone());
            select.state_topic = state;
            select.value_template = Some("{{ value_json.pool_name }}".into());
            select.icon = Some("mdi:server-network");
            select.entity_category = Some("config");
            configs.push(self.finish("select", select));
        }
        configs
    }

    fn finish(&self, component: &str, config: EntityConfig) -> Config {
        (
            self.topics.discovery(component, &config.unique_id),
            to_json(&config),
        )
    }

    /// The config of one widget sensor, on the bridge device.
    pub(crate) fn widget_config(&self, widget: &WidgetSensor) -> Config {
        let node = &self.topics.node;
        let widget_slug = slug(&widget.name);
        let field = widget.state_field.replace('\'', "");
        let config = EntityConfig {
            name: widget.name.clone(),
            unique_id: format!("{node}-widget-{widget_slug}"),
            default_entity_id: format!("sensor.{node}_widget_{widget_slug}"),
            device_class: widget.device_class.clone(),
            state_class: widget.state_class.clone(),
            unit_of_measurement: widget.unit.clone(),
            suggested_display_precision: None,
            entity_category: None,
            icon: None,
            state_topic: Some(self.topics.widget(&widget.name)),
            value_template: Some(format!("{{{{ value_json.get('{field}') }}}}")),
            command_topic: None,
            options: None,
            payload_press: None,
            payload_on: None,
            payload_off: None,
            retain: None,
            availability: vec![self.availability(self.topics.status())],
            availability_mode: None,
            qos: 1,
            device: self.bridge_device(),
            origin: self.origin(),
        };
        self.finish("sensor", config)
    }

    /// Every config for the given miners and widget sensors, keyed by topic (sorted, so the
    /// announce order is stable too).
    pub(crate) fn all(
        &self,
        miners: &[MinerInfo],
        widgets: &[WidgetSensor],
    ) -> BTreeMap<String, String> {
        let mut configs: BTreeMap<String, String> = self.bridge_configs().into_iter().collect();
        for miner in miners {
            configs.extend(self.miner_configs(miner));
        }
        for widget in widgets {
            let (topic, payload) = self.widget_config(widget);
            configs.insert(topic, payload);
        }
        configs
    }
}

/// Which part of the catalog an object id of this instance belongs to; used to decide
/// whether a retained config found on the broker is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdSpace {
    /// `<node>-bridge-...`: always known.
    Bridge,
    /// `<node>-miner-...`: known once the daemon has called `set_miners`.
    Miner,
    /// `<node>-widget-...`: known once the daemon has called `set_widgets`.
    Widget,
    /// Anything else under this instance's node id: not something hmm announces now.
    Other,
}

/// Classifies an object id of this instance.
pub(crate) fn id_space(node: &str, object_id: &str) -> IdSpace {
    let Some(rest) = object_id
        .strip_prefix(node)
        .and_then(|r| r.strip_prefix('-'))
    else {
        return IdSpace::Other;
    };
    match rest.split('-').next() {
        Some("bridge") => IdSpace::Bridge,
        Some("miner") => IdSpace::Miner,
        Some("widget") => IdSpace::Widget,
        _ => IdSpace::Other,
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising plain structs of strings, numbers and vectors cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Mode;
    use serde_json::Value;

    fn builder_parts() -> (Topics, BridgeIdentity) {
        (
            Topics::new("hmm", "homeassistant", "hmm"),
            BridgeIdentity {
                instance_id: "hmm".into(),
                version: "1.2.3".into(),
            },
        )
    }

    fn miner() -> MinerInfo {
        MinerInfo {
            name: "Bitaxe-1".into(),
            kind: Some(MinerKind::Axeos),
            model: Some("Bitaxe Gamma".into()),
            firmware: Some("v2.4.0".into()),
            config_url: Some("http://192.168.1.50/".into()),
            modes: vec![Mode::Eco, Mode::Standard],
            pools: vec!["ckpool".into()],
            reported: None,
            can_restart: true,
            can_pause: true,
        }
    }

    #[test]
    fn configs_are_byte_identical_for_the_same_input() {
        let (topics, identity) = builder_parts();
        let builder = ConfigBuilder {
            topics: &topics,
            identity: &identity,
        };
        let first = builder.all(&[miner()], &[]);
        let second = builder.all(&[miner()], &[]);
        assert_eq!(first, second);
        // 16 sensors + mode select + restart + enabled + pool select; 5 bridge entities.
        assert_eq!(first.len(), 20 + 5);
    }

    #[test]
    fn hashrate_config_fixes_its_unit_and_points_at_the_state_topic() {
        let (topics, identity) = builder_parts();
        let builder = ConfigBuilder {
            topics: &topics,
            identity: &identity,
        };
        let configs = builder.all(&[miner()], &[]);
        let topic = "homeassistant/sensor/hmm/hmm-miner-bitaxe_1-hashrate/config";
        let json: Value = serde_json::from_str(&configs[topic]).unwrap();
        assert_eq!(json["unit_of_measurement"], "TH/s");
        assert_eq!(json["state_class"], "measurement");
        assert!(json.get("device_class").is_none());
        assert_eq!(json["state_topic"], "hmm/Bitaxe-1/state");
        assert_eq!(json["default_entity_id"], "sensor.hmm_bitaxe_1_hashrate");
        assert_eq!(json["device"]["via_device"], "hmm-bridge");
        assert_eq!(json["origin"]["name"], "hmm");
    }

    #[test]
    fn object_ids_are_classified_by_their_space() {
        assert_eq!(id_space("hmm", "hmm-miner-a-power"), IdSpace::Miner);
        assert_eq!(id_space("hmm", "hmm-widget-cost"), IdSpace::Widget);
        assert_eq!(id_space("hmm", "hmm-bridge-status"), IdSpace::Bridge);
        assert_eq!(id_space("hmm", "hmm-gadget-x"), IdSpace::Other);
        assert_eq!(id_space("hmm", "hmmx-miner-a"), IdSpace::Other);
    }
}
