//! The host firewall, read the way a viewer's first packet meets it: does an nftables rule
//! (or a chain's policy) drop a new TCP connection from the LAN to Porch's port?
//!
//! Owns reading the ruleset (`nft -j list ruleset` for the rules, `nft -a list ruleset`
//! for the text of the one named), through the process runner, and the walk over it
//! ([`verdict`], pure, unit-tested). ufw and firewalld on current systems keep their rules
//! in nftables too (ufw through iptables-nft), so one walk covers them; their presence is
//! read from their files to word the fix.
//!
//! Does not: change any rule, or read iptables-legacy tables. Reading the ruleset needs
//! root (CAP_NET_ADMIN); without it the check says so and points to the phone test.
//!
//! The walk is an approximation, said as such: a new TCP packet to the port arriving on a
//! LAN interface (not `lo`), from an address it cannot know. A condition it cannot decide
//! (a source address, a rate limit, an iptables match) makes a rule "conditional": a
//! conditional drop is reported as one that may apply, never as certain.
//!
//! Concurrency: none; one call spawns `nft` twice at most and returns.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::runner::{Cmd, OutputError, Runner};

/// How long `nft` may take.
const NFT_LIMIT: Duration = Duration::from_secs(10);

/// A rule (or a chain's policy) that decides the packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "FirewallRule"))]
pub struct Culprit {
    /// `inet`, `ip`, `ip6`.
    pub family: String,
    /// The table, e.g. `filter`.
    pub table: String,
    /// The chain, e.g. `input`.
    pub chain: String,
    /// The rule's handle; null when the chain's policy decides.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub handle: Option<u64>,
    /// The rule as `nft` prints it, e.g. `tcp dport 3939 drop`, or `policy drop`.
    pub text: String,
}

impl Culprit {
    /// "table inet filter, chain input, rule handle 4: `tcp dport 3939 drop`".
    pub fn describe(&self) -> String {
        match self.handle {
            Some(h) => {
                format!("table {} {}, chain {}, rule handle {h}: `{}`", self.family, self.table, self.chain, self.text)
            }
            None => format!("table {} {}, chain {}: `{}`", self.family, self.table, self.chain, self.text),
        }
    }
}

/// What the walk concluded for the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing drops it (no input chain, or an accept decides first).
    Passes,
    /// This rule or policy drops it.
    Dropped(Culprit),
    /// This rule or policy drops it unless a condition the walk cannot decide says otherwise.
    MayDrop(Culprit),
}

/// What reading the firewall gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// The rules were read and walked.
    Read(Verdict),
    /// `nft` is not installed.
    NoNft,
    /// The rules cannot be read (not root); what `nft` said.
    Unreadable(String),
}

/// Reads the nftables ruleset and walks it for a new TCP connection to `port`.
pub async fn read(runner: &Runner, port: u16) -> Reading {
    let mut cmd = Cmd::new("nft");
    cmd.args(["-j", "list", "ruleset"]);
    let out = match runner.output(&cmd, NFT_LIMIT).await {
        Ok(out) => out,
        Err(OutputError::Spawn { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Reading::NoNft
        }
        Err(e) => return Reading::Unreadable(e.to_string()),
    };
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Reading::Unreadable(if said.is_empty() { format!("nft exited with {}", out.status) } else { said });
    }
    let ruleset: Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => return Reading::Unreadable(format!("cannot parse `nft -j list ruleset`: {e}")),
    };
    let mut verdict = verdict(&ruleset, port);
    if let Verdict::Dropped(c) | Verdict::MayDrop(c) = &mut verdict {
        if c.handle.is_some() {
            let mut text = Cmd::new("nft");
            text.args(["-a", "list", "ruleset"]);
            if let Ok(out) = runner.output(&text, NFT_LIMIT).await {
                if let Some(t) = rule_text(&String::from_utf8_lossy(&out.stdout), c) {
                    c.text = t;
                }
            }
        }
    }
    Reading::Read(verdict)
}

/// Which firewall front end manages the rules, from its own files (readable by anyone).
pub fn front_end() -> Option<&'static str> {
    let ufw = std::fs::read_to_string("/etc/ufw/ufw.conf")
        .map(|c| c.lines().any(|l| l.trim().eq_ignore_ascii_case("ENABLED=yes")))
        .unwrap_or(false);
    if ufw {
        return Some("ufw");
    }
    let firewalld = crate::platform::process_running("firewalld");
    firewalld.then_some("firewalld")
}

/// How to let viewers in past `culprit`, in the words of the tool that owns it.
pub fn fix_for(culprit: &Culprit, port: u16, front_end: Option<&str>) -> String {
    if culprit.chain.starts_with("ufw") || front_end == Some("ufw") {
        return format!("allow the port in ufw: sudo ufw allow {port}/tcp");
    }
    if culprit.table == "firewalld" || front_end == Some("firewalld") {
        return format!(
            "open the port in firewalld: sudo firewall-cmd --permanent --add-port={port}/tcp && sudo firewall-cmd --reload"
        );
    }
    let (f, t, c) = (&culprit.family, &culprit.table, &culprit.chain);
    match culprit.handle {
        Some(h) => format!(
            "accept the port before that rule: sudo nft insert rule {f} {t} {c} tcp dport {port} accept (or remove it: sudo nft delete rule {f} {t} {c} handle {h}); make it permanent in /etc/nftables.conf"
        ),
        None => format!(
            "accept the port in that chain: sudo nft insert rule {f} {t} {c} tcp dport {port} accept; make it permanent in /etc/nftables.conf"
        ),
    }
}

/// Finds the text of `culprit`'s rule in `nft -a list ruleset` output (the line ending in
/// `# handle N` inside its table and chain).
fn rule_text(listing: &str, culprit: &Culprit) -> Option<String> {
    let handle = culprit.handle?;
    let (mut in_table, mut in_chain) = (false, false);
    for line in listing.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("table ") {
            let mut w = rest.split_whitespace();
            in_table = w.next() == Some(culprit.family.as_str()) && w.next() == Some(culprit.table.as_str());
            in_chain = false;
        } else if let Some(rest) = line.strip_prefix("chain ") {
            in_chain = in_table && rest.split_whitespace().next() == Some(culprit.chain.as_str());
        } else if in_chain {
            if let Some((rule, h)) = line.rsplit_once("# handle ") {
                if h.trim().parse::<u64>().ok() == Some(handle) {
                    return Some(rule.trim().to_string());
                }
            }
        }
    }
    None
}

/// Whether a condition holds for the packet: yes, no, or cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    Yes,
    No,
    Unknown,
}

/// Walks every input base chain of the ruleset (`nft -j list ruleset`) for a new TCP
/// packet to `port` from the LAN. A packet must pass every base chain on the hook, so the
/// first chain (by priority) that drops it decides.
pub fn verdict(ruleset: &Value, port: u16) -> Verdict {
    let items = ruleset["nftables"].as_array().cloned().unwrap_or_default();
    let chains: Vec<&Value> = items.iter().filter_map(|i| i.get("chain")).collect();
    let rules: Vec<&Value> = items.iter().filter_map(|i| i.get("rule")).collect();
    let mut bases: Vec<&Value> = chains
        .iter()
        .copied()
        .filter(|c| c["hook"] == "input" && matches!(c["family"].as_str(), Some("inet" | "ip" | "ip6")))
        .filter(|c| c["type"].as_str().is_none_or(|t| t == "filter"))
        .collect();
    bases.sort_by_key(|c| c["prio"].as_i64().unwrap_or(0));
    let walk = Walk { rules: &rules, port };
    let mut maybe = None;
    for base in bases {
        let (family, table, name) = (s(&base["family"]), s(&base["table"]), s(&base["name"]));
        let mut unsure = false;
        let outcome = walk.chain(&family, &table, &name, 0, &mut unsure);
        match outcome {
            Some((false, c)) if !unsure => return Verdict::Dropped(c),
            Some((false, c)) => {
                maybe.get_or_insert(c);
            }
            Some((true, _)) => {}
            None => {
                if base["policy"] == "drop" {
                    let c = Culprit { family, table, chain: name, handle: None, text: "policy drop".into() };
                    if unsure {
                        maybe.get_or_insert(c);
                    } else {
                        return Verdict::Dropped(c);
                    }
                }
            }
        }
    }
    maybe.map_or(Verdict::Passes, Verdict::MayDrop)
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

struct Walk<'a> {
    rules: &'a [&'a Value],
    port: u16,
}

impl Walk<'_> {
    /// Walks one chain: `Some((accepted, rule))` when a rule decides, `None` when the
    /// packet falls through. `unsure` is set when a conditional rule was passed over.
    fn chain(&self, family: &str, table: &str, chain: &str, depth: u8, unsure: &mut bool) -> Option<(bool, Culprit)> {
        if depth > 16 {
            return None;
        }
        for rule in self.rules.iter().filter(|r| r["family"] == family && r["table"] == table && r["chain"] == chain) {
            let exprs = rule["expr"].as_array().cloned().unwrap_or_default();
            let mut holds = Holds::Yes;
            let culprit = || Culprit {
                family: family.into(),
                table: table.into(),
                chain: chain.into(),
                handle: rule["handle"].as_u64(),
                text: render(&exprs),
            };
            for e in &exprs {
                if holds == Holds::No {
                    break;
                }
                if let Some(m) = e.get("match") {
                    match self.condition(m) {
                        Holds::No => holds = Holds::No,
                        Holds::Unknown => holds = Holds::Unknown,
                        Holds::Yes => {}
                    }
                    continue;
                }
                if e.get("accept").is_some() {
                    if holds == Holds::Yes {
                        return Some((true, culprit()));
                    }
                    // An accept under a condition the walk cannot decide: perhaps.
                    *unsure = true;
                    break;
                }
                if e.get("drop").is_some() || e.get("reject").is_some() {
                    if holds == Holds::Unknown {
                        *unsure = true;
                    }
                    return Some((false, culprit()));
                }
                for kind in ["jump", "goto"] {
                    if let Some(target) = e.get(kind).and_then(|j| j["target"].as_str()) {
                        if holds == Holds::Unknown {
                            *unsure = true;
                        }
                        if let Some(decided) = self.chain(family, table, target, depth + 1, unsure) {
                            return Some(decided);
                        }
                        if kind == "goto" && holds == Holds::Yes {
                            return None;
                        }
                    }
                }
                if e.get("return").is_some() && holds == Holds::Yes {
                    return None;
                }
                if e.get("limit").is_some() || e.get("xt").is_some() || e.get("queue").is_some() {
                    holds = Holds::Unknown;
                }
            }
        }
        None
    }

    fn condition(&self, m: &Value) -> Holds {
        let op = m["op"].as_str().unwrap_or("==");
        let (left, right) = (&m["left"], &m["right"]);
        let positive = match op {
            "==" | "in" => true,
            "!=" => false,
            _ => return Holds::Unknown,
        };
        let flip = |h: Holds| match (h, positive) {
            (Holds::Unknown, _) => Holds::Unknown,
            (h, true) => h,
            (Holds::Yes, false) => Holds::No,
            (Holds::No, false) => Holds::Yes,
        };
        let yes_no = |b: bool| if b { Holds::Yes } else { Holds::No };
        if let Some(p) = left.get("payload") {
            let (proto, field) = (p["protocol"].as_str().unwrap_or(""), p["field"].as_str().unwrap_or(""));
            return match (proto, field) {
                ("tcp" | "th", "dport") => flip(yes_no(contains_port(right, self.port))),
                ("udp" | "udplite" | "sctp" | "icmp" | "icmpv6", _) => flip(Holds::No),
                _ => Holds::Unknown,
            };
        }
        if let Some(meta) = left.get("meta") {
            return match meta["key"].as_str().unwrap_or("") {
                "l4proto" | "protocol" if meta["key"] == "l4proto" => flip(yes_no(contains_word(right, &["tcp", "6"]))),
                "iifname" | "iif" => {
                    if contains_word(right, &["lo"]) {
                        flip(Holds::No)
                    } else {
                        Holds::Unknown
                    }
                }
                "nfproto" => Holds::Yes,
                "pkttype" => flip(yes_no(contains_word(right, &["host"]))),
                _ => Holds::Unknown,
            };
        }
        if let Some(ct) = left.get("ct") {
            if ct["key"] == "state" {
                return flip(yes_no(contains_word(right, &["new"])));
            }
        }
        Holds::Unknown
    }
}

/// Whether a match's right side (a number, a set, a range) covers `port`.
fn contains_port(right: &Value, port: u16) -> bool {
    let p = u64::from(port);
    match right {
        Value::Number(n) => n.as_u64() == Some(p),
        Value::Object(o) => {
            if let Some(set) = o.get("set") {
                return contains_port(set, port);
            }
            if let Some(r) = o.get("range").and_then(Value::as_array) {
                return matches!((r.first().and_then(Value::as_u64), r.get(1).and_then(Value::as_u64)), (Some(a), Some(b)) if a <= p && p <= b);
            }
            false
        }
        Value::Array(a) => a.iter().any(|v| contains_port(v, port)),
        _ => false,
    }
}

/// Whether a match's right side (a word, a set, a list of flags) holds one of `words`.
fn contains_word(right: &Value, words: &[&str]) -> bool {
    match right {
        Value::String(w) => words.contains(&w.as_str()),
        Value::Number(n) => words.contains(&n.to_string().as_str()),
        Value::Object(o) => o.get("set").is_some_and(|s| contains_word(s, words)),
        Value::Array(a) => a.iter().any(|v| contains_word(v, words)),
        _ => false,
    }
}

/// A short text for a rule when `nft -a` cannot give it (the JSON is shown compactly).
fn render(exprs: &[Value]) -> String {
    exprs.iter().map(Value::to_string).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(chain: &str, expr: Value) -> Value {
        json!([chain, expr])
    }

    fn r(v: Vec<Value>) -> Vec<Value> {
        v
    }

    fn build(policy: &str, rules: Vec<Value>) -> Value {
        let rules = rules.into_iter().map(|pair| (pair[0].as_str().unwrap_or("").to_string(), pair[1].clone()));
        let mut items = vec![
            json!({"table": {"family": "inet", "name": "filter", "handle": 1}}),
            json!({"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1,
                              "type": "filter", "hook": "input", "prio": 0, "policy": policy}}),
            json!({"chain": {"family": "inet", "table": "filter", "name": "lan", "handle": 2}}),
        ];
        items.extend(rules.enumerate().map(|(i, (chain, expr))| {
            json!({"rule": {"family": "inet", "table": "filter", "chain": chain, "handle": 10 + i, "expr": expr}})
        }));
        json!({ "nftables": items })
    }

    fn dport(port: Value) -> Value {
        json!({"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": port}})
    }

    #[test]
    fn a_drop_of_the_port_is_named() {
        let set = build("accept", r(vec![rule("input", json!([dport(json!(3939)), {"drop": null}]))]));
        match verdict(&set, 3939) {
            Verdict::Dropped(c) => {
                assert_eq!((c.table.as_str(), c.chain.as_str(), c.handle), ("filter", "input", Some(10)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(verdict(&set, 8080), Verdict::Passes);
        let range =
            build("accept", r(vec![rule("input", json!([dport(json!({"range": [3000, 4000]})), {"reject": null}]))]));
        assert!(matches!(verdict(&range, 3939), Verdict::Dropped(_)));
    }

    #[test]
    fn a_drop_policy_without_an_accept_for_the_port_is_named() {
        let est = json!({"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}});
        let lo = json!({"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}});
        let set = build(
            "drop",
            r(vec![
                rule("input", json!([est, {"accept": null}])),
                rule("input", json!([lo, {"accept": null}])),
                rule("input", json!([dport(json!(22)), {"accept": null}])),
            ]),
        );
        match verdict(&set, 3939) {
            Verdict::Dropped(c) => assert_eq!((c.handle, c.text.as_str()), (None, "policy drop")),
            other => panic!("{other:?}"),
        }
        let open = build(
            "drop",
            r(vec![
                rule("input", json!([{"jump": {"target": "lan"}}])),
                rule("lan", json!([dport(json!({"set": [22, 3939]})), {"accept": null}])),
            ]),
        );
        assert_eq!(verdict(&open, 3939), Verdict::Passes);
    }

    #[test]
    fn conditions_it_cannot_decide_make_a_drop_uncertain() {
        let src = json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.0.0.5"}});
        let set = build("accept", r(vec![rule("input", json!([src, dport(json!(3939)), {"drop": null}]))]));
        assert!(matches!(verdict(&set, 3939), Verdict::MayDrop(_)));
        let lo_only = json!({"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}});
        let set = build("accept", r(vec![rule("input", json!([lo_only, dport(json!(3939)), {"drop": null}]))]));
        assert_eq!(verdict(&set, 3939), Verdict::Passes, "a rule for loopback only does not touch viewers");
    }

    #[test]
    fn the_rule_text_comes_from_the_listing() {
        let listing = "table inet filter { # handle 1\n\tchain input { # handle 1\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 3939 drop # handle 10\n\t}\n}\n";
        let c = Culprit {
            family: "inet".into(),
            table: "filter".into(),
            chain: "input".into(),
            handle: Some(10),
            text: String::new(),
        };
        assert_eq!(rule_text(listing, &c).as_deref(), Some("tcp dport 3939 drop"));
        assert!(fix_for(&c, 3939, None).contains("nft insert rule inet filter input tcp dport 3939 accept"));
        assert!(fix_for(&c, 3939, Some("ufw")).contains("sudo ufw allow 3939/tcp"));
    }
}
