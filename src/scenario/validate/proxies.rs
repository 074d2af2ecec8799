//! `services.fault-proxy`: HTTP fault proxies gauntlet runs in front of services it does not
//! own. Both addresses must be loopback `IP:port`; the upstream defaults to the service's
//! endpoint; two proxies cannot share a listen port, and a proxy cannot forward to itself.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::*;
use crate::load::plan::is_loopback;

impl Validator {
    pub(super) fn fault_proxies(
        &mut self,
        raw: Option<&BTreeMap<String, RawFaultProxy>>,
        mode: ServicesMode,
        endpoints: &BTreeMap<String, String>,
    ) -> BTreeMap<String, FaultProxySpec> {
        let Some(raw) = raw else {
            return BTreeMap::new();
        };
        if mode != ServicesMode::External {
            self.error_at_key(
                "services.fault-proxy",
                "`fault-proxy` only applies to `mode: external`",
                Some(
                    "gauntlet's own services take HTTP faults through their admin API; the proxy is for services gauntlet does not run".into(),
                ),
            );
            return BTreeMap::new();
        }
        let mut out = BTreeMap::new();
        let mut listens: BTreeMap<SocketAddr, String> = BTreeMap::new();
        for (name, p) in raw {
            let path = format!("services.fault-proxy.{name}");
            let listen = match &p.listen {
                None => Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
                Some(text) => self.loopback_addr(&join_key(&path, "listen"), text, true),
            };
            let upstream = match (&p.upstream, endpoints.get(name)) {
                (Some(text), _) => self.loopback_addr(&join_key(&path, "upstream"), text, false),
                (None, Some(url)) => match endpoint_addr(url) {
                    Ok(addr) => Some(addr),
                    Err(why) => {
                        self.error(
                            &format!("services.endpoints.{name}"),
                            format!("cannot put the fault proxy in front of this endpoint: {why}"),
                            Some(format!("set `services.fault-proxy.{name}.upstream` to the service's loopback host:port")),
                        );
                        None
                    }
                },
                (None, None) => {
                    self.error(
                        &path,
                        "missing field `upstream`",
                        Some(format!(
                            "{name:?} has no endpoint to default to: give the service's loopback host:port, e.g. `upstream: 127.0.0.1:8080`"
                        )),
                    );
                    None
                }
            };
            let (Some(listen), Some(upstream)) = (listen, upstream) else {
                continue;
            };
            if listen == upstream {
                self.error(
                    &join_key(&path, "listen"),
                    format!("the proxy would listen on its own upstream {upstream}"),
                    Some("pick a free port for `listen`; callers go there, the service stays where it is".into()),
                );
                continue;
            }
            if listen.port() != 0
                && let Some(other) = listens.insert(listen, name.clone())
            {
                self.error(
                    &join_key(&path, "listen"),
                    format!(
                        "{listen} is already the listen address of the fault proxy for {other:?}"
                    ),
                    None,
                );
                continue;
            }
            out.insert(name.clone(), FaultProxySpec { listen, upstream });
        }
        out
    }

    /// A loopback `IP:port` (`localhost` is 127.0.0.1); port 0 only where `any_port`.
    fn loopback_addr(&mut self, field: &str, text: &str, any_port: bool) -> Option<SocketAddr> {
        let parsed = text.strip_prefix("localhost:").map_or_else(
            || text.parse::<SocketAddr>().ok(),
            |port| {
                port.parse::<u16>()
                    .ok()
                    .map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, p)))
            },
        );
        let Some(addr) = parsed else {
            self.error(
                field,
                format!("{text:?} is not an IP:port address"),
                Some("e.g. `127.0.0.1:8081`".into()),
            );
            return None;
        };
        if !is_loopback(addr.ip()) {
            self.error(
                field,
                format!("{addr} is not a loopback address"),
                Some("gauntlet only listens and forwards on 127.0.0.0/8 (or ::1)".into()),
            );
            return None;
        }
        if addr.port() == 0 && !any_port {
            self.error(field, "port 0 is not a service's port", None);
            return None;
        }
        Some(addr)
    }
}

/// `http://127.0.0.1:8080/x` → 127.0.0.1:8080, for loopback plain-HTTP endpoints.
fn endpoint_addr(url: &str) -> Result<SocketAddr, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "the fault proxy speaks plain HTTP, not {}",
            parsed.scheme()
        ));
    }
    let host = parsed.host_str().unwrap_or_default();
    let ip: IpAddr = if host == "localhost" {
        Ipv4Addr::LOCALHOST.into()
    } else {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| "its host is not a loopback IP address".to_string())?
    };
    if !is_loopback(ip) {
        return Err(format!("{ip} is not a loopback address"));
    }
    let port = parsed.port_or_known_default().ok_or("it has no port")?;
    Ok(SocketAddr::new(ip, port))
}
