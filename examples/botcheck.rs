//! Runs the built-in rules over the public bot and browser user-agent
//! fixtures and prints how many are classed as machines.
//!
//! ```sh
//! cargo run --example botcheck -- ../shared/data/bots
//! ```
//!
//! Each user agent is classed as a click one day after sending, with GET,
//! from an address in no listed network: only the user agent decides.

use std::path::Path;

use pixelsift::classify::{Class, Classifier, Features, RoleSet};
use pixelsift::track::Kind;

/// Lines `  - UA` of isbot's YAML fixtures.
fn yaml_list(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("  - "))
        .map(|s| s.trim().trim_matches('\'').trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `user_agent:` values of device-detector's bot fixtures.
fn device_detector(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("user_agent:")
                .or_else(|| l.trim().strip_prefix("- user_agent:"))
        })
        .map(|s| {
            s.trim()
                .trim_matches('\'')
                .trim_matches('"')
                .replace("''", "'")
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// `instances` of crawler-user-agents.json.
fn crawler_user_agents(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["instances"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn classify(c: &Classifier, ua: &str) -> (Class, String) {
    let lower = ua.to_lowercase();
    let v = c.classify(&Features {
        kind: Kind::Click,
        method: b"GET",
        ua_lower: &lower,
        ua,
        ua_profile: None,
        network_roles: RoleSet::default(),
        seconds_since_sent: Some(86_400),
        status: 200,
    });
    (v.class, v.rule_id.to_string())
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/bots".into());
    let dir = Path::new(&dir);
    let c = Classifier::builtin();
    let sets: [(&str, Vec<String>, bool); 4] = [
        (
            "isbot crawlers.yml",
            yaml_list(&dir.join("isbot/crawlers.yml")),
            true,
        ),
        (
            "device-detector bots",
            device_detector(&dir.join("device-detector-bots-fixtures.yml")),
            true,
        ),
        (
            "crawler-user-agents.json",
            crawler_user_agents(&dir.join("crawler-user-agents.json")),
            true,
        ),
        (
            "isbot browsers.yml",
            yaml_list(&dir.join("isbot/browsers.yml")),
            false,
        ),
    ];
    for (name, uas, bots) in sets {
        let mut machine = 0;
        let mut misses = Vec::new();
        for ua in &uas {
            let (class, rule) = classify(&c, ua);
            let is_machine = class != Class::Human;
            if is_machine {
                machine += 1;
            }
            if is_machine != bots {
                misses.push(format!("{} by {rule}: {ua}", class.as_str()));
            }
        }
        let n = uas.len().max(1);
        let what = if bots {
            "classed crawler, scanner or image_proxy"
        } else {
            "classed as a machine"
        };
        println!(
            "{name}: {} user agents, {machine} {what} ({:.2}%)",
            uas.len(),
            100.0 * machine as f64 / n as f64
        );
        for m in misses.iter().take(15) {
            println!("    {}", m);
        }
        if misses.len() > 15 {
            println!("    ... {} more", misses.len() - 15);
        }
    }
}
