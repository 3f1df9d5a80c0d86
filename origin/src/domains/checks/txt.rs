//! The TXT ownership check: `_furnitureops.{hostname}` must hold the claim's value. It is asked
//! only where the hostname is, or lately was, live for another shop: whoever answers the HTTP
//! challenge there may just be holding a former shop's dangling CNAME, while a TXT record can
//! only be written by whoever runs the zone.
//!
//! The resolver is `DOMAIN_CHECK_DNS` (ip:port) when set, the system's otherwise. Answers are
//! not cached: the owner's "check now" should see a record the moment it is published.

use std::{net::SocketAddr, time::Duration};

use hickory_resolver::{
    config::{ConnectionConfig, NameServerConfig, ResolverConfig},
    net::runtime::TokioRuntimeProvider,
    proto::rr::RData,
    Resolver, TokioResolver,
};

use super::Failed;
use crate::domains::view::txt_name;

/// Passes when the TXT records of `_furnitureops.{host}` include `value`.
pub async fn check(
    host: &str,
    value: &str,
    server: Option<SocketAddr>,
    timeout: Duration,
) -> Result<(), Failed> {
    let resolver = resolver(server, timeout)?;
    let name = format!("{}.", txt_name(host));
    let found = match resolver.txt_lookup(name.as_str()).await {
        Ok(lookup) => lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect::<Vec<_>>(),
        Err(err) if err.is_no_records_found() || err.is_nx_domain() => Vec::new(),
        Err(err) => {
            return Err(Failed::unreachable(format!(
                "the DNS lookup of {name} failed ({err}); check again shortly"
            )))
        }
    };
    if found.iter().any(|text| text.trim() == value) {
        Ok(())
    } else {
        Err(Failed::owner(format!(
            "this hostname was lately live for another shop, so ownership needs a TXT record: \
             {} must hold \"{value}\" (found {})",
            txt_name(host),
            if found.is_empty() {
                "none".to_owned()
            } else {
                format!("{} other value(s)", found.len())
            }
        )))
    }
}

fn resolver(server: Option<SocketAddr>, timeout: Duration) -> Result<TokioResolver, Failed> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = match server {
        Some(addr) => {
            let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                .into_iter()
                .map(|mut connection| {
                    connection.port = addr.port();
                    connection
                })
                .collect();
            let name_server = NameServerConfig::new(addr.ip(), true, connections);
            Resolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![name_server]),
                provider,
            )
        }
        None => Resolver::builder(provider)
            .map_err(|err| Failed::unreachable(format!("the system resolver: {err}")))?,
    };
    let options = builder.options_mut();
    options.timeout = timeout;
    options.attempts = 1;
    builder
        .build()
        .map_err(|err| Failed::unreachable(format!("the resolver: {err}")))
}
