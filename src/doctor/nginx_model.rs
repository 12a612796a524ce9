//! What a parsed nginx config means for bxpush: the `server`s and their `listen`s, the
//! location a URI ends up in (nginx's order: `=`, longest prefix, `^~`, regexes in order,
//! nested locations), directive inheritance (http → server → location; the
//! `proxy_set_header` family only from the innermost level that has one), and where a
//! `proxy_pass` goes (through `upstream` blocks).

use std::net::SocketAddr;

use super::nginx_conf_parser::Directive;

/// The chain of blocks a request passes: `[http, server, location, nested location…]`.
pub type Chain<'a> = Vec<&'a Directive>;

pub struct Model<'a> {
    pub main: &'a [Directive],
    pub http: Option<&'a Directive>,
}

impl<'a> Model<'a> {
    pub fn new(main: &'a [Directive]) -> Self {
        let http = main.iter().find(|d| d.name == "http" && d.block.is_some());
        Model { main, http }
    }

    pub fn servers(&self) -> Vec<&'a Directive> {
        self.http
            .map(|h| h.children().iter().filter(|d| d.name == "server").collect())
            .unwrap_or_default()
    }

    /// `upstream NAME { server ADDR …; }`: the addresses.
    pub fn upstream(&self, name: &str) -> Option<Vec<String>> {
        let up =
            self.http?.children().iter().find(|d| {
                d.name == "upstream" && d.args.first().map(String::as_str) == Some(name)
            })?;
        Some(
            up.children()
                .iter()
                .filter(|d| d.name == "server")
                .filter_map(|d| d.args.first().cloned())
                .collect(),
        )
    }

    /// A main-context or `events` directive's first argument.
    pub fn main_value(&self, name: &str) -> Option<&'a Directive> {
        self.main.iter().find(|d| d.name == name)
    }

    pub fn events_value(&self, name: &str) -> Option<&'a Directive> {
        self.main
            .iter()
            .find(|d| d.name == "events")?
            .children()
            .iter()
            .find(|d| d.name == name)
    }

    /// The chain for `uri` in `server`, ending at the location nginx picks (or at the
    /// server when no location matches).
    pub fn route(&self, server: &'a Directive, uri: &str) -> Chain<'a> {
        let mut chain: Chain<'a> = self.http.into_iter().collect();
        chain.push(server);
        let mut block = server;
        while let Some(loc) = pick_location(block.children(), uri) {
            chain.push(loc);
            block = loc;
        }
        chain
    }
}

/// nginx's location selection among the locations of one block.
pub fn pick_location<'a>(children: &'a [Directive], uri: &str) -> Option<&'a Directive> {
    let locs = children.iter().filter(|d| d.name == "location");
    let mut best: Option<(&Directive, usize, bool)> = None;
    let mut regexes = Vec::new();
    for loc in locs {
        match loc.args.as_slice() {
            [m, path] if m == "=" && uri == path => return Some(loc),
            [m, path]
                if m == "^~"
                    && uri.starts_with(path.as_str())
                    && best.is_none_or(|b| path.len() > b.1) =>
            {
                best = Some((loc, path.len(), true));
            }
            [m, re] if m == "~" || m == "~*" => regexes.push((loc, re.clone(), m == "~*")),
            [path]
                if !path.starts_with('@')
                    && uri.starts_with(path.as_str())
                    && best.is_none_or(|b| path.len() > b.1) =>
            {
                best = Some((loc, path.len(), false));
            }
            _ => {}
        }
    }
    if let Some((loc, _, true)) = best {
        return Some(loc);
    }
    for (loc, re, insensitive) in regexes {
        let re = if insensitive { format!("(?i){re}") } else { re };
        // A PCRE feature the regex crate lacks: the location cannot be judged; skip it.
        if regex::Regex::new(&re).is_ok_and(|r| r.is_match(uri)) {
            return Some(loc);
        }
    }
    best.map(|b| b.0)
}

/// The innermost definition of a directive along the chain (nginx's inheritance for
/// ordinary directives).
pub fn effective<'a>(chain: &Chain<'a>, name: &str) -> Option<&'a Directive> {
    chain
        .iter()
        .rev()
        .find_map(|b| b.children().iter().rev().find(|d| d.name == name))
}

/// Directives like `proxy_set_header` and `add_header` are inherited only by a level
/// that defines none of its own: all definitions of the innermost level that has any.
pub fn effective_all<'a>(chain: &Chain<'a>, name: &str) -> Vec<&'a Directive> {
    for b in chain.iter().rev() {
        let here: Vec<_> = b.children().iter().filter(|d| d.name == name).collect();
        if !here.is_empty() {
            return here;
        }
    }
    Vec::new()
}

/// The location (innermost block) of a chain, if the request reached one.
pub fn location<'a>(chain: &Chain<'a>) -> Option<&'a Directive> {
    chain.last().copied().filter(|d| d.name == "location")
}

/// Where a `proxy_pass` sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyTarget {
    /// Resolved addresses (`host:port`, possibly names like `localhost:8010`).
    Addrs(Vec<String>),
    /// Variables or a unix socket: cannot be judged statically.
    Unknown(String),
}

pub fn proxy_target(model: &Model<'_>, proxy_pass: &Directive) -> ProxyTarget {
    let Some(url) = proxy_pass.args.first() else {
        return ProxyTarget::Unknown(String::new());
    };
    if url.contains('$') || url.contains("unix:") {
        return ProxyTarget::Unknown(url.clone());
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let host = rest.split('/').next().unwrap_or(rest);
    if let Some(servers) = model.upstream(host) {
        return ProxyTarget::Addrs(servers);
    }
    let with_port = if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    ProxyTarget::Addrs(vec![with_port])
}

/// Whether `addr` (`host:port` from nginx) reaches bxpush's listener `listen`.
pub fn reaches(addr: &str, listen: SocketAddr) -> bool {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return false;
    };
    if port.parse::<u16>().ok() != Some(listen.port()) {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let l = listen.ip();
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => l.is_unspecified() || ip == l || (ip.is_loopback() && l.is_loopback()),
        Err(_) => host == "localhost" && (l.is_loopback() || l.is_unspecified()),
    }
}

/// Whether a `listen` directive accepts connections from other machines.
pub fn listen_is_public(listen: &Directive) -> bool {
    let Some(a) = listen.args.first() else {
        return true;
    };
    if a.starts_with("unix:") {
        return false;
    }
    // `80`, `*:80`, `0.0.0.0:80`, `[::]:80`, `192.0.2.1:443`, `localhost:8080`
    let host = match a.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None if a.parse::<u16>().is_ok() => return true,
        None => a.as_str(),
    };
    if host == "localhost" {
        return false;
    }
    !host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// nginx's time syntax (`90`, `90s`, `2m`, `1h30m`, `500ms`) in seconds.
pub fn seconds(v: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = v.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                's' => 1.0,
                'm' => 60.0,
                'h' => 3600.0,
                'd' => 86400.0,
                'w' => 604800.0,
                'M' => 2_592_000.0,
                'y' => 31_536_000.0,
                _ => return None,
            }
        };
        total += n * unit;
        any = true;
    }
    if !num.is_empty() {
        total += num.parse::<f64>().ok()?;
        any = true;
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(args: &[&str]) -> Directive {
        Directive {
            name: "location".into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            file: "t".into(),
            line: 1,
            block: Some(vec![]),
        }
    }

    #[test]
    fn location_selection_follows_nginx() {
        let locs = vec![
            loc(&["/"]),
            loc(&["/bitrix/"]),
            loc(&["~", "^/bitrix/sub"]),
            loc(&["^~", "/bitrix/subws/"]),
            loc(&["=", "/bitrix/sub/x"]),
            loc(&["~*", "\\.PHP$"]),
        ];
        let pick = |u| pick_location(&locs, u).unwrap().args.clone();
        assert_eq!(pick("/bitrix/sub/"), vec!["~", "^/bitrix/sub"]);
        assert_eq!(pick("/bitrix/subws/"), vec!["^~", "/bitrix/subws/"]);
        assert_eq!(pick("/bitrix/sub/x"), vec!["=", "/bitrix/sub/x"]);
        assert_eq!(pick("/bitrix/a.php"), vec!["~*", "\\.PHP$"]);
        assert_eq!(pick("/bitrix/rest/"), vec!["/bitrix/"]);
        assert_eq!(pick("/index"), vec!["/"]);
    }

    #[test]
    fn times_listens_and_targets() {
        assert_eq!(seconds("90"), Some(90.0));
        assert_eq!(seconds("2m"), Some(120.0));
        assert_eq!(seconds("1h30m"), Some(5400.0));
        assert_eq!(seconds("500ms"), Some(0.5));
        assert_eq!(seconds("x"), None);
        let l = |a: &str| Directive {
            name: "listen".into(),
            args: vec![a.into()],
            file: "t".into(),
            line: 1,
            block: None,
        };
        assert!(listen_is_public(&l("80")));
        assert!(listen_is_public(&l("0.0.0.0:8895")));
        assert!(listen_is_public(&l("[::]:443")));
        assert!(!listen_is_public(&l("127.0.0.1:8895")));
        assert!(!listen_is_public(&l("localhost:8895")));
        let pub_addr: SocketAddr = "127.0.0.1:9010".parse().unwrap();
        assert!(reaches("127.0.0.1:9010", pub_addr));
        assert!(reaches("localhost:9010", pub_addr));
        assert!(!reaches("127.0.0.1:8010", pub_addr));
        assert!(!reaches("10.0.0.1:9010", pub_addr));
    }
}
