//! User agent to client, category and OS: woothee for browsers, plus a table
//! of email clients and proxies (`rules/email-clients.tsv`) that it misses.

/// What the user agent tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentInfo {
    /// Client name: an email client from our table, else woothee's name.
    pub ua_name: Option<String>,
    /// Device category: pc, smartphone, mobilephone, crawler, appliance, proxy, misc.
    pub ua_category: Option<String>,
    /// Operating system.
    pub os: Option<String>,
}

/// One row of the email-client table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPattern {
    /// Substring of the user agent (case-sensitive).
    pub pattern: String,
    /// Client name reported.
    pub client: String,
    /// Device category reported.
    pub category: String,
    /// OS reported; empty lets woothee decide.
    pub os: String,
}

/// The built-in email-client table.
pub const DEFAULT_CLIENTS: &str = include_str!("../../rules/email-clients.tsv");

/// Parses an email-client table: tab-separated `pattern client category os`, `#` comments.
pub fn parse_clients(text: &str) -> Result<Vec<ClientPattern>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 || f[0].is_empty() {
            return Err(format!(
                "email-client table line {}: expected pattern, client, category[, os]",
                i + 1
            ));
        }
        out.push(ClientPattern {
            pattern: f[0].to_string(),
            client: f[1].to_string(),
            category: f[2].to_string(),
            os: f.get(3).unwrap_or(&"").to_string(),
        });
    }
    Ok(out)
}

/// Recognises user agents.
#[derive(Debug, Clone)]
pub struct AgentParser {
    clients: Vec<ClientPattern>,
}

impl Default for AgentParser {
    fn default() -> Self {
        AgentParser {
            clients: parse_clients(DEFAULT_CLIENTS).expect("the built-in table parses"),
        }
    }
}

impl AgentParser {
    /// Uses another email-client table.
    pub fn with_clients(clients: Vec<ClientPattern>) -> Self {
        AgentParser { clients }
    }

    /// Parses one user agent (empty for `-`).
    pub fn parse(&self, ua: &str) -> AgentInfo {
        if ua.is_empty() {
            return AgentInfo::default();
        }
        let w = woothee::parser::Parser::new().parse(ua);
        let known = |s: &str| {
            (!s.is_empty() && s != woothee::woothee::VALUE_UNKNOWN).then(|| s.to_string())
        };
        let mut info = AgentInfo {
            ua_name: w.as_ref().and_then(|w| known(w.name)),
            ua_category: w.as_ref().and_then(|w| known(w.category)),
            os: w.as_ref().and_then(|w| known(w.os)),
        };
        if let Some(c) = self
            .clients
            .iter()
            .find(|c| ua.contains(c.pattern.as_str()))
        {
            info.ua_name = Some(c.client.clone());
            info.ua_category = Some(c.category.clone());
            if !c.os.is_empty() {
                info.os = Some(c.os.clone());
            }
        } else if let Some((name, category, os)) = apple_mail(ua) {
            info.ua_name = Some(name.to_string());
            info.ua_category = Some(category.to_string());
            info.os = Some(os.to_string());
        }
        info
    }
}

/// Apple Mail loads images with bare WebKit: `AppleWebKit/...` but neither
/// `Version/` nor `Safari/` (Safari always sends both).
fn apple_mail(ua: &str) -> Option<(&'static str, &'static str, &'static str)> {
    if !ua.contains("AppleWebKit/") || ua.contains("Safari/") || ua.contains("Version/") {
        return None;
    }
    if ua.contains("(Macintosh;") {
        Some(("Apple Mail", "pc", "Mac OSX"))
    } else if ua.contains("(iPhone;") {
        Some(("Apple Mail", "smartphone", "iPhone"))
    } else if ua.contains("(iPad;") {
        Some(("Apple Mail", "smartphone", "iPad"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_mail_clients_and_proxies() {
        let p = AgentParser::default();
        let chrome = p.parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36");
        assert_eq!(chrome.ua_name.as_deref(), Some("Chrome"));
        assert_eq!(chrome.ua_category.as_deref(), Some("pc"));
        assert_eq!(chrome.os.as_deref(), Some("Windows 10"));
        let mail = p.parse("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)");
        assert_eq!(mail.ua_name.as_deref(), Some("Apple Mail"));
        let outlook = p.parse("Mozilla/4.0 (compatible; ms-office; MSOffice 16)");
        assert_eq!(outlook.ua_name.as_deref(), Some("Outlook"));
        let gmail = p.parse("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)");
        assert_eq!(gmail.ua_name.as_deref(), Some("Gmail image proxy"));
        assert_eq!(gmail.ua_category.as_deref(), Some("proxy"));
        assert_eq!(p.parse(""), AgentInfo::default());
    }
}
