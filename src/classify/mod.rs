//! Classification: ordered rules (data, `rules/default-rules.toml`), first
//! match wins, and the verdict names the rule that decided it.
//!
//! Rules only look at [`Features`] of a hit, never at raw log bytes, so the
//! same rules can run again over stored events.

pub mod message;
pub mod networks;

use serde::Deserialize;

use crate::track::Kind;
pub use networks::{NetMatch, Networks, Role, RoleSet};

/// The classes a hit can get. The names are the stored `class` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// A person.
    Human,
    /// A webmail image proxy fetched on a person's behalf: an open, but the
    /// address and device are the proxy's.
    ImageProxy,
    /// Apple Mail Privacy Protection prefetch: no person is implied.
    AppleMpp,
    /// A security gateway or link checker.
    Scanner,
    /// A crawler or link-preview bot.
    Crawler,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 5] = [
        Class::Human,
        Class::ImageProxy,
        Class::AppleMpp,
        Class::Scanner,
        Class::Crawler,
    ];

    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Class::Human => "human",
            Class::ImageProxy => "image_proxy",
            Class::AppleMpp => "apple_mpp",
            Class::Scanner => "scanner",
            Class::Crawler => "crawler",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What the rules may look at.
#[derive(Debug, Clone, Copy)]
pub struct Features<'a> {
    /// Open or click.
    pub kind: Kind,
    /// Request method.
    pub method: &'a [u8],
    /// User agent, lower-cased (empty when absent).
    pub ua_lower: &'a str,
    /// User agent as sent, trimmed.
    pub ua: &'a str,
    /// Which rules' user-agent conditions hold for this user agent, when
    /// computed once per distinct user agent ([`Classifier::ua_profile`]).
    pub ua_profile: Option<&'a UaProfile>,
    /// Roles of every listed network and ASN the address belongs to.
    pub network_roles: RoleSet,
    /// Seconds between sending and the hit, when known.
    pub seconds_since_sent: Option<i64>,
    /// Response status.
    pub status: u16,
}

/// A decision and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'r> {
    /// The class.
    pub class: Class,
    /// The stable id of the rule that decided.
    pub rule_id: &'r str,
    /// The rule's reason, for people.
    pub reason: &'r str,
}

/// Rules a rule set may have, plus one: a verdict's index (see
/// [`Classifier::verdict_at`]) fits in 16 bits.
pub const MAX_RULES: usize = u16::MAX as usize;

/// Id of the verdict when no rule matches.
pub const DEFAULT_RULE_ID: &str = "default.human";
/// Reason of the verdict when no rule matches.
pub const DEFAULT_REASON: &str = "no machine signal";

/// The built-in rules.
pub const DEFAULT_RULES: &str = include_str!("../../rules/default-rules.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rule: Vec<RuleSpec>,
    #[serde(default)]
    message: message::MessageConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    class: String,
    reason: String,
    kind: Option<String>,
    methods: Option<Vec<String>>,
    statuses: Option<Vec<u16>>,
    ua_contains: Option<Vec<String>>,
    ua_equals: Option<Vec<String>>,
    ua_empty: Option<bool>,
    network_roles: Option<Vec<String>>,
    max_seconds_since_sent: Option<i64>,
    ua_regex: Option<Vec<String>>,
    ua_regex_list: Option<String>,
    unless_ua_contains: Option<Vec<String>>,
}

/// Built-in user-agent pattern lists a rule can name with `ua_regex_list`.
pub const UA_LISTS: &[(&str, &str)] =
    &[("crawlers", include_str!("../../rules/crawler-patterns.txt"))];

/// Case-insensitive regular expressions, any one matching. Patterns the
/// `regex` crate accepts go into one `RegexSet` (a single pass over the
/// user agent); the few with look-around use `fancy-regex`.
#[derive(Debug, Clone)]
pub struct UaPatterns {
    set: regex::RegexSet,
    fancy: Vec<fancy_regex::Regex>,
}

impl UaPatterns {
    /// Compiles patterns.
    pub fn new(patterns: &[String]) -> Result<Self, String> {
        let mut plain = Vec::new();
        let mut fancy = Vec::new();
        for p in patterns {
            if regex::Regex::new(p).is_ok() {
                plain.push(format!("(?i){p}"));
            } else {
                fancy.push(
                    fancy_regex::Regex::new(&format!("(?i){p}"))
                        .map_err(|e| format!("pattern {p:?}: {e}"))?,
                );
            }
        }
        let set = regex::RegexSet::new(&plain).map_err(|e| format!("patterns: {e}"))?;
        Ok(UaPatterns { set, fancy })
    }

    /// Parses a list file: one pattern per line, `#` comments.
    pub fn from_list(text: &str) -> Result<Self, String> {
        let pats: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        Self::new(&pats)
    }

    /// True if any pattern matches.
    pub fn is_match(&self, ua: &str) -> bool {
        self.set.is_match(ua) || self.fancy.iter().any(|r| r.is_match(ua).unwrap_or(false))
    }
}

/// For one user agent: which rules' user-agent conditions hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UaProfile {
    bits: Vec<u64>,
}

impl UaProfile {
    fn get(&self, i: usize) -> bool {
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable id.
    pub id: String,
    /// Class given when it matches.
    pub class: Class,
    /// Reason given when it matches.
    pub reason: String,
    kind: Option<Kind>,
    methods: Vec<Vec<u8>>,
    statuses: Vec<u16>,
    ua_contains: Vec<String>,
    ua_equals: Vec<String>,
    ua_empty: Option<bool>,
    network_roles: RoleSet,
    max_seconds_since_sent: Option<i64>,
    ua_patterns: Option<std::sync::Arc<UaPatterns>>,
    unless_ua_contains: Vec<String>,
}

impl Rule {
    /// The conditions on the user agent alone.
    fn ua_matches(&self, ua: &str, ua_lower: &str) -> bool {
        if let Some(empty) = self.ua_empty {
            if empty != ua.is_empty() {
                return false;
            }
        }
        if !self.ua_equals.is_empty() && !self.ua_equals.iter().any(|u| u == ua) {
            return false;
        }
        if !self.ua_contains.is_empty()
            && !self
                .ua_contains
                .iter()
                .any(|p| ua_lower.contains(p.as_str()))
        {
            return false;
        }
        if self
            .unless_ua_contains
            .iter()
            .any(|p| ua_lower.contains(p.as_str()))
        {
            return false;
        }
        if let Some(p) = &self.ua_patterns {
            if !p.is_match(ua) {
                return false;
            }
        }
        true
    }

    fn matches(&self, idx: usize, f: &Features<'_>) -> bool {
        // `open` rules cover every image a mail client fetches (the pixel,
        // the read-time image, the print pixel): a prefetch is a prefetch.
        let kind_ok = match self.kind {
            None => true,
            Some(Kind::Open) => f.kind.is_image(),
            Some(k) => k == f.kind,
        };
        if !kind_ok {
            return false;
        }
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m.as_slice() == f.method) {
            return false;
        }
        if !self.statuses.is_empty() && !self.statuses.contains(&f.status) {
            return false;
        }
        let ua_ok = match f.ua_profile {
            Some(p) => p.get(idx),
            None => self.ua_matches(f.ua, f.ua_lower),
        };
        if !ua_ok {
            return false;
        }
        if !self.network_roles.is_empty() && !self.network_roles.intersects(f.network_roles) {
            return false;
        }
        if let Some(max) = self.max_seconds_since_sent {
            if f.seconds_since_sent.is_none_or(|s| s > max) {
                return false;
            }
        }
        true
    }
}

/// An ordered rule set, and the thresholds of the message-level rules.
#[derive(Debug, Clone)]
pub struct Classifier {
    rules: Vec<Rule>,
    message: message::MessageConfig,
    text_sha256: String,
}

impl Classifier {
    /// The built-in rules.
    pub fn builtin() -> Self {
        Classifier::from_toml(DEFAULT_RULES).expect("built-in rules parse")
    }

    /// Compiles rules from TOML text, naming the rule at fault on error.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: RuleFile = toml::from_str(text).map_err(|e| format!("rules: {e}"))?;
        // Each stored row keeps its rule's index in 16 bits until the seal.
        if file.rule.len() >= MAX_RULES {
            return Err(format!(
                "rules: {} rules, more than the {} a rule set may have",
                file.rule.len(),
                MAX_RULES - 1
            ));
        }
        let mut rules = Vec::with_capacity(file.rule.len());
        let mut ids = std::collections::HashSet::new();
        #[allow(clippy::type_complexity)]
        let mut compiled_lists: Vec<(
            (Option<Vec<String>>, Option<String>),
            std::sync::Arc<UaPatterns>,
        )> = Vec::new();
        for s in file.rule {
            let at = |msg: String| format!("rule {:?}: {msg}", s.id);
            if !ids.insert(s.id.clone()) {
                return Err(at("the id is used twice".into()));
            }
            let class =
                Class::parse(&s.class).ok_or_else(|| at(format!("unknown class {:?}", s.class)))?;
            let kind = match s.kind.as_deref() {
                None => None,
                Some(k) => Some(Kind::parse(k).ok_or_else(|| {
                    at(format!(
                        "kind must be open, click, read or print, not {k:?}"
                    ))
                })?),
            };
            let network_roles = s
                .network_roles
                .unwrap_or_default()
                .iter()
                .map(|r| Role::parse(r).ok_or_else(|| at(format!("unknown network role {r:?}"))))
                .collect::<Result<RoleSet, _>>()?;
            let mut pats: Vec<String> = s.ua_regex.clone().unwrap_or_default();
            if let Some(list) = &s.ua_regex_list {
                let text = UA_LISTS
                    .iter()
                    .find(|(n, _)| n == list)
                    .map(|(_, t)| *t)
                    .ok_or_else(|| at(format!("no built-in user-agent list {list:?}")))?;
                pats.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(str::to_string),
                );
            }
            let ua_patterns = if pats.is_empty() {
                None
            } else {
                let key = (s.ua_regex.clone(), s.ua_regex_list.clone());
                let compiled = match compiled_lists.iter().find(|(k, _)| *k == key) {
                    Some((_, p)) => std::sync::Arc::clone(p),
                    None => {
                        let p = std::sync::Arc::new(UaPatterns::new(&pats).map_err(&at)?);
                        compiled_lists.push((key, p.clone()));
                        p
                    }
                };
                Some(compiled)
            };
            rules.push(Rule {
                ua_patterns,
                unless_ua_contains: s
                    .unless_ua_contains
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| p.to_lowercase())
                    .collect(),
                id: s.id,
                class,
                reason: s.reason,
                kind,
                methods: s
                    .methods
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| m.to_ascii_uppercase().into_bytes())
                    .collect(),
                statuses: s.statuses.unwrap_or_default(),
                ua_contains: s
                    .ua_contains
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| p.to_lowercase())
                    .collect(),
                ua_equals: s.ua_equals.unwrap_or_default(),
                ua_empty: s.ua_empty,
                network_roles,
                max_seconds_since_sent: s.max_seconds_since_sent,
            });
        }
        use sha2::Digest;
        Ok(Classifier {
            rules,
            message: file.message,
            text_sha256: crate::commit::hex(&sha2::Sha256::digest(text.as_bytes())),
        })
    }

    /// The version of this rule set together with the network lists in
    /// force: a content hash, stored with every verdict (`rules_version`),
    /// that changes whenever a rule, a threshold or a listed range does.
    pub fn version(&self, networks: &Networks) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.text_sha256.as_bytes());
        h.update(b"\n");
        h.update(networks.fingerprint().as_bytes());
        format!("rs-{}", &crate::commit::hex(&h.finalize())[..12])
    }

    /// Thresholds of the message-level rules.
    pub fn message(&self) -> &message::MessageConfig {
        &self.message
    }

    /// The rules in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Evaluates every rule's user-agent conditions once, for a user agent
    /// that many hits share.
    pub fn ua_profile(&self, ua: &str, ua_lower: &str) -> UaProfile {
        let mut bits = vec![0u64; self.rules.len().div_ceil(64)];
        for (i, r) in self.rules.iter().enumerate() {
            if r.ua_matches(ua, ua_lower) {
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        UaProfile { bits }
    }

    /// Classifies one hit: the first matching rule, else human.
    pub fn classify(&self, f: &Features<'_>) -> Verdict<'_> {
        self.classify_indexed(f).1
    }

    /// Classifies one hit and gives the verdict's index for
    /// [`Classifier::verdict_at`]: a compact tag where rows are many.
    pub fn classify_indexed(&self, f: &Features<'_>) -> (u16, Verdict<'_>) {
        let i = self
            .rules
            .iter()
            .enumerate()
            .position(|(i, r)| r.matches(i, f))
            .unwrap_or(self.rules.len());
        (i as u16, self.verdict_at(i as u16))
    }

    /// The verdict of rule `i`, or the default one past the last rule.
    pub fn verdict_at(&self, i: u16) -> Verdict<'_> {
        match self.rules.get(i as usize) {
            Some(r) => Verdict {
                class: r.class,
                rule_id: &r.id,
                reason: &r.reason,
            },
            None => Verdict {
                class: Class::Human,
                rule_id: DEFAULT_RULE_ID,
                reason: DEFAULT_REASON,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f<'a>(
        kind: Kind,
        method: &'a [u8],
        ua: &'a str,
        ua_lower: &'a str,
        role: Option<Role>,
        secs: Option<i64>,
    ) -> Features<'a> {
        Features {
            kind,
            method,
            ua,
            ua_lower,
            ua_profile: None,
            network_roles: role.into_iter().collect(),
            seconds_since_sent: secs,
            status: 200,
        }
    }

    #[test]
    fn first_match_wins_and_names_itself() {
        let c = Classifier::from_toml(
            r#"
[[rule]]
id = "a.head"
class = "scanner"
reason = "HEAD click"
kind = "click"
methods = ["HEAD"]

[[rule]]
id = "b.dc-fast"
class = "scanner"
reason = "fast from a data centre"
network_roles = ["datacenter"]
max_seconds_since_sent = 60
"#,
        )
        .unwrap();
        let v = c.classify(&f(Kind::Click, b"HEAD", "x", "x", None, None));
        assert_eq!((v.class, v.rule_id), (Class::Scanner, "a.head"));
        let v = c.classify(&f(Kind::Open, b"HEAD", "x", "x", None, None));
        assert_eq!(v.rule_id, DEFAULT_RULE_ID);
        let v = c.classify(&f(
            Kind::Click,
            b"GET",
            "x",
            "x",
            Some(Role::Datacenter),
            Some(30),
        ));
        assert_eq!(v.rule_id, "b.dc-fast");
        let v = c.classify(&f(
            Kind::Click,
            b"GET",
            "x",
            "x",
            Some(Role::Datacenter),
            Some(61),
        ));
        assert_eq!(v.class, Class::Human);
        let v = c.classify(&f(
            Kind::Click,
            b"GET",
            "x",
            "x",
            Some(Role::Datacenter),
            None,
        ));
        assert_eq!(v.class, Class::Human);
    }

    /// rules/ua-fixtures.tsv: real user agents and the class the built-in
    /// rules must give them for an open a day after sending, from an
    /// address in no listed network.
    #[test]
    fn builtin_rules_classify_the_ua_fixtures() {
        let c = Classifier::builtin();
        let mut checked = 0;
        let mut wrong = Vec::new();
        for line in include_str!("../../rules/ua-fixtures.tsv").lines().skip(1) {
            let mut cols = line.split('\t');
            let (Some(expected), Some(ua)) = (cols.next(), cols.next()) else {
                continue;
            };
            let ua = ua.trim();
            let lower = ua.to_lowercase();
            let v = c.classify(&f(Kind::Open, b"GET", ua, &lower, None, Some(86_400)));
            if v.class.as_str() != expected {
                wrong.push(format!(
                    "{ua:?}: expected {expected}, classed {} by {}",
                    v.class.as_str(),
                    v.rule_id
                ));
            }
            checked += 1;
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert!(checked >= 40, "only {checked} fixtures");
    }

    #[test]
    fn bad_rules_are_refused_by_name() {
        let e = Classifier::from_toml("[[rule]]\nid='x'\nclass='robot'\nreason='r'\n").unwrap_err();
        assert!(e.contains("\"x\"") && e.contains("robot"), "{e}");
        assert!(
            Classifier::from_toml("[[rule]]\nid='x'\nclass='human'\nreason='r'\nbogus=1\n")
                .is_err()
        );
    }
}
