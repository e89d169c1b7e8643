//! The feeds' own view of the config file: the `[energy]`, `[[pools]]`, `[feeds]` and
//! `[cache]` sections with the same field names, types and defaults as the config schema in
//! COMMON.md, so the config module converts into it in one line per field.
//!
//! [`FeedSettings::validate`] rejects what would make a URL or tariff code wrong (region
//! letter, coin slug, account characters) before any thread starts, naming the field.

use std::time::Duration;

/// Which statistics API a `[[pools]]` entry is read with. Chosen by the configured
/// `stats` field only, never guessed from the pool's name (the ancestor's bug).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatsKind {
    /// No statistics fetched.
    None,
    /// CKPool per-user log `GET <ckpool_url>/users/<address>`.
    Ckpool,
    /// Self-hosted CKPool `GET <host>/pool/pool.status` (three JSON lines).
    CkpoolStatus,
    /// SoloPool `GET <solopool_url with {coin}>/api/accounts/<address>`.
    Solopool,
}

impl StatsKind {
    /// Parses the config spelling (`none`, `ckpool`, `ckpool-status`, `solopool`).
    pub fn parse(text: &str) -> Option<StatsKind> {
        match text {
            "none" => Some(StatsKind::None),
            "ckpool" => Some(StatsKind::Ckpool),
            "ckpool-status" => Some(StatsKind::CkpoolStatus),
            "solopool" => Some(StatsKind::Solopool),
            _ => None,
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StatsKind::None => "none",
            StatsKind::Ckpool => "ckpool",
            StatsKind::CkpoolStatus => "ckpool-status",
            StatsKind::Solopool => "solopool",
        }
    }
}

/// The part of one `[[pools]]` entry the feeds need. The stratum password is deliberately
/// not here: the feeds never need it, so they can never leak it.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolFeed {
    /// Config name, the key widgets use.
    pub name: String,
    /// Stratum URL, `stratum+tcp://host:port`; `ckpool-status` reads `http://host/`.
    pub url: String,
    /// Stratum user (`address.worker`); its address part is used when `account` is empty.
    pub user: String,
    /// Which statistics API to call.
    pub stats: StatsKind,
    /// Address for the stats API; empty = `user` up to the first '.'.
    pub account: String,
    /// Coin slug for SoloPool's `{coin}` host (`btc`, `bch`, `dgb-sha`, ...).
    pub coin: String,
    /// Disabled pools are never fetched.
    pub enabled: bool,
    /// Optional explicit base URL of the stats API (not in the COMMON.md schema yet; lets a
    /// self-hosted ckpool serve `pool.status` on another port). Empty = derived.
    pub stats_url: String,
}

impl PoolFeed {
    /// The address the stats APIs are asked about.
    pub fn address(&self) -> &str {
        if !self.account.trim().is_empty() {
            return self.account.trim();
        }
        self.user.split('.').next().unwrap_or("").trim()
    }
}

/// `[energy]`: which tariff prices electricity.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergySettings {
    /// `agile` or `fixed`.
    pub tariff: String,
    /// Agile region letter A–P (no I, no O).
    pub region: String,
    /// Pins an Agile product code; empty = discover the current one.
    pub product: String,
    /// Fixed tariff unit rate, p/kWh including VAT.
    pub fixed_price_p_kwh: f64,
    /// Standing charge, p/day (both tariffs).
    pub standing_charge_p_day: f64,
}

impl Default for EnergySettings {
    fn default() -> EnergySettings {
        EnergySettings {
            tariff: "agile".to_string(),
            region: "H".to_string(),
            product: String::new(),
            fixed_price_p_kwh: 24.5,
            standing_charge_p_day: 0.0,
        }
    }
}

/// `[feeds]`: base URLs (all configurable so tests and the demo use a loopback server),
/// coins, currency and the HTTP timeout.
#[derive(Clone, PartialEq)]
pub struct FeedUrls {
    /// Octopus API base, without `/v1`.
    pub octopus_url: String,
    /// CoinGecko API base, without `/api/v3`.
    pub coingecko_url: String,
    /// CoinGecko demo key, sent as `x-cg-demo-api-key`. Secret: never logged or shown.
    pub coingecko_api_key: String,
    /// CoinGecko coin ids.
    pub coins: Vec<String>,
    /// Quote currency (`gbp`).
    pub currency: String,
    /// CKPool base for `/users/<address>`.
    pub ckpool_url: String,
    /// SoloPool base with a `{coin}` placeholder.
    pub solopool_url: String,
    /// Whole-request timeout of every feed call.
    pub timeout: Duration,
}

impl std::fmt::Debug for FeedUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = if self.coingecko_api_key.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("FeedUrls")
            .field("octopus_url", &self.octopus_url)
            .field("coingecko_url", &self.coingecko_url)
            .field("coingecko_api_key", &key)
            .field("coins", &self.coins)
            .field("currency", &self.currency)
            .field("ckpool_url", &self.ckpool_url)
            .field("solopool_url", &self.solopool_url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for FeedUrls {
    fn default() -> FeedUrls {
        FeedUrls {
            octopus_url: "https://api.octopus.energy".to_string(),
            coingecko_url: "https://api.coingecko.com".to_string(),
            coingecko_api_key: String::new(),
            coins: vec!["bitcoin".to_string()],
            currency: "gbp".to_string(),
            ckpool_url: "https://solo.ckpool.org".to_string(),
            solopool_url: "https://{coin}.solopool.org".to_string(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// `[cache]`: how long a fetched value counts as fresh, per feed. Octopus's is its regular
/// refresh interval.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheTtls {
    /// CoinGecko prices.
    pub coingecko: Duration,
    /// SoloPool accounts.
    pub solopool: Duration,
    /// SoloPool network statistics (`/api/stats`, network difficulty), per coin. Longer
    /// than the accounts': the difficulty moves every ~2 weeks on BTC, though every block
    /// on small coins.
    pub solopool_network: Duration,
    /// CKPool users and pool.status.
    pub ckpool: Duration,
    /// Agile refresh interval outside the evening publication window.
    pub octopus: Duration,
}

impl Default for CacheTtls {
    fn default() -> CacheTtls {
        CacheTtls {
            coingecko: Duration::from_secs(300),
            solopool: Duration::from_secs(120),
            solopool_network: Duration::from_secs(600),
            ckpool: Duration::from_secs(60),
            octopus: Duration::from_secs(1800),
        }
    }
}

/// Everything the feeds read from the config, plus two tunables that are not config keys.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedSettings {
    /// `[energy]`.
    pub energy: EnergySettings,
    /// `[[pools]]`.
    pub pools: Vec<PoolFeed>,
    /// `[feeds]`.
    pub feeds: FeedUrls,
    /// `[cache]`.
    pub cache: CacheTtls,
    /// How often idle refresher threads look at the clock (1 s; tests with a manual clock
    /// use a few ms).
    pub refresher_tick: Duration,
    /// Octopus `page_size` (≤ 1500; 100 is Octopus's default).
    pub octopus_page_size: u32,
}

impl Default for FeedSettings {
    fn default() -> FeedSettings {
        FeedSettings {
            energy: EnergySettings::default(),
            pools: Vec::new(),
            feeds: FeedUrls::default(),
            cache: CacheTtls::default(),
            refresher_tick: Duration::from_secs(1),
            octopus_page_size: 100,
        }
    }
}

impl FeedSettings {
    /// Checks every field that ends up in a URL or tariff code; the error names the field
    /// and says what is accepted.
    pub fn validate(&self) -> Result<(), String> {
        match self.energy.tariff.as_str() {
            "agile" => {
                crate::feeds::octopus::region_byte(&self.energy.region)?;
                if !self.energy.product.is_empty() && !is_slug(&self.energy.product) {
                    return Err(format!(
                        "[energy] product = {:?}: use an Octopus product code such as AGILE-24-10-01",
                        self.energy.product
                    ));
                }
            }
            "fixed" => {
                if !self.energy.fixed_price_p_kwh.is_finite() {
                    return Err("[energy] fixed_price_p_kwh must be a number of pence".into());
                }
            }
            other => {
                return Err(format!(
                    "[energy] tariff = {other:?}: use \"agile\" or \"fixed\""
                ));
            }
        }
        for coin in &self.feeds.coins {
            if !is_slug(coin) {
                return Err(format!(
                    "[feeds] coins: {coin:?} is not a CoinGecko id (letters, digits, '-')"
                ));
            }
        }
        if !is_slug(&self.feeds.currency) {
            return Err(format!(
                "[feeds] currency = {:?}: use a currency code such as \"gbp\"",
                self.feeds.currency
            ));
        }
        for pool in self.pools.iter().filter(|p| p.enabled) {
            self.validate_pool(pool)?;
        }
        Ok(())
    }

    fn validate_pool(&self, pool: &PoolFeed) -> Result<(), String> {
        let place = format!("[[pools]] name = {:?}", pool.name);
        match pool.stats {
            StatsKind::None => return Ok(()),
            StatsKind::Ckpool | StatsKind::Solopool => {
                let address = pool.address();
                if address.is_empty() || !address.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!(
                        "{place}: stats = \"{}\" needs account = \"<wallet address>\" \
                         (letters and digits only, no worker suffix)",
                        pool.stats.as_str()
                    ));
                }
            }
            StatsKind::CkpoolStatus => {
                if pool.stats_url.is_empty() && stratum_host(&pool.url).is_none() {
                    return Err(format!(
                        "{place}: stats = \"ckpool-status\" needs url = \"stratum+tcp://HOST:PORT\""
                    ));
                }
            }
        }
        if pool.stats == StatsKind::Solopool && !is_slug(&pool.coin) {
            return Err(format!(
                "{place}: coin = {:?}: use a SoloPool coin slug such as \"btc\" or \"dgb-sha\"",
                pool.coin
            ));
        }
        Ok(())
    }
}

/// Letters, digits and '-' only: safe to put in a URL path or host.
pub(crate) fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The host of `stratum+tcp://host:port` (or any `scheme://host[:port][/...]`).
pub(crate) fn stratum_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next()?;
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    let ok = !host.is_empty()
        && host.chars().all(|c| {
            c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '[' || c == ']' || c == ':'
        });
    ok.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_defaults_to_user_without_worker() {
        let pool = PoolFeed {
            name: "ck".into(),
            url: "stratum+tcp://solo.ckpool.org:3333".into(),
            user: "bc1qabc.bitaxe".into(),
            stats: StatsKind::Ckpool,
            account: String::new(),
            coin: "btc".into(),
            enabled: true,
            stats_url: String::new(),
        };
        assert_eq!(pool.address(), "bc1qabc");
        assert_eq!(stratum_host(&pool.url), Some("solo.ckpool.org"));
        assert_eq!(
            stratum_host("stratum+tcp://192.168.1.5"),
            Some("192.168.1.5")
        );
    }

    #[test]
    fn validation_names_the_field() {
        let mut settings = FeedSettings::default();
        assert_eq!(settings.validate(), Ok(()));
        settings.energy.region = "I".into();
        assert!(settings.validate().unwrap_err().contains("[energy] region"));
        settings.energy.region = "h".into();
        assert_eq!(settings.validate(), Ok(()));
        settings.feeds.coins.push("bit coin/../x".into());
        assert!(settings.validate().unwrap_err().contains("[feeds] coins"));
        settings.feeds.coins.pop();
        settings.pools.push(PoolFeed {
            name: "solo".into(),
            url: "stratum+tcp://eu3.solopool.org:8005".into(),
            user: String::new(),
            stats: StatsKind::Solopool,
            account: "bc1q?x=1".into(),
            coin: "btc".into(),
            enabled: true,
            stats_url: String::new(),
        });
        let err = settings.validate().unwrap_err();
        assert!(err.contains("[[pools]] name = \"solo\""), "{err}");
        settings.pools[0].enabled = false;
        assert_eq!(settings.validate(), Ok(()));
    }

    #[test]
    fn secrets_are_redacted_from_debug() {
        let mut settings = FeedSettings::default();
        settings.feeds.coingecko_api_key = "CG-supersecret".into();
        let text = format!("{settings:?}");
        assert!(!text.contains("supersecret"));
        assert!(text.contains("<redacted>"));
    }
}
