//! The IP-control plugin: an allow list (ALLOW) or a deny list (REFUSE) of address blocks, for
//! every caller or for one App, over the connection's address or an `X-Forwarded-For` entry.

use std::net::IpAddr;

use apigw_core::config::NamedPlugin;
use apigw_core::resources::{IpControl, IpControlType};
use http::HeaderMap;
use ipnet::IpNet;

use crate::error::GatewayError;
use crate::plugins::parameters::forwarded_entry;

/// An IP-control plugin, compiled.
#[derive(Debug)]
pub struct CompiledIpControl {
    allow: bool,
    /// `XFF:index`: the entry of `X-Forwarded-For` to check (negative from the end).
    forwarded_index: Option<i64>,
    items: Vec<Item>,
}

#[derive(Debug)]
struct Item {
    blocks: Vec<IpNet>,
    app_id: Option<String>,
}

impl CompiledIpControl {
    /// Compiles a config.
    pub fn compile(config: &NamedPlugin<IpControl>) -> Result<Self, String> {
        let spec = &config.spec;
        let forwarded_index = spec
            .resource
            .as_deref()
            .map(|resource| {
                resource
                    .split_once(':')
                    .and_then(|(_, index)| index.parse().ok())
                    .ok_or_else(|| format!("resource {resource:?}: expected XFF:index"))
            })
            .transpose()?;
        let items = spec
            .items
            .iter()
            .map(|item| {
                let blocks = item
                    .blocks
                    .iter()
                    .map(|block| {
                        block
                            .parse::<IpNet>()
                            .or_else(|_| block.parse::<IpAddr>().map(IpNet::from))
                            .map_err(|_| format!("block {block:?} is not an address or CIDR block"))
                    })
                    .collect::<Result<_, String>>()?;
                Ok(Item { blocks, app_id: item.app_id.map(|id| id.to_string()) })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { allow: spec.kind == IpControlType::Allow, forwarded_index, items })
    }

    /// Lets the caller through or refuses it. Items with an `appId` apply to that App only.
    pub fn check(&self, peer: IpAddr, headers: &HeaderMap, app_id: Option<&str>) -> Result<(), GatewayError> {
        let applicable: Vec<&Item> =
            self.items.iter().filter(|item| item.app_id.as_deref().is_none_or(|id| Some(id) == app_id)).collect();
        if applicable.is_empty() {
            return Ok(());
        }
        let address = match self.forwarded_index {
            None => Some(peer),
            Some(index) => forwarded_entry(headers, index).and_then(|entry| entry.parse().ok()),
        };
        let listed = address.is_some_and(|address| {
            applicable.iter().any(|item| item.blocks.iter().any(|block| block.contains(&address)))
        });
        if listed == self.allow { Ok(()) } else { Err(GatewayError::IpDenied) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(spec: serde_json::Value) -> CompiledIpControl {
        let spec = serde_json::from_value(spec).expect("an ipControl spec");
        CompiledIpControl::compile(&NamedPlugin { plugin: "test".into(), spec }).expect("it compiles")
    }

    fn forwarded(value: &'static str) -> HeaderMap {
        [(http::header::HeaderName::from_static("x-forwarded-for"), http::HeaderValue::from_static(value))]
            .into_iter()
            .collect()
    }

    #[test]
    fn an_allow_list_lets_listed_addresses_through_and_refuses_the_rest() {
        let office =
            compile(serde_json::json!({"type": "ALLOW", "items": [{"blocks": ["10.0.0.0/8", "2001:db8::1"]}]}));
        let none = HeaderMap::new();
        assert!(office.check("10.1.2.3".parse().unwrap(), &none, None).is_ok());
        assert!(office.check("2001:db8::1".parse().unwrap(), &none, None).is_ok(), "a bare address is a /128");
        assert!(matches!(office.check("192.0.2.1".parse().unwrap(), &none, None), Err(GatewayError::IpDenied)));
    }

    #[test]
    fn a_refuse_list_for_one_app_leaves_other_callers_alone() {
        let spec = serde_json::json!({"type": "REFUSE", "items": [{"blocks": ["192.0.2.0/24"], "appId": 7}]});
        let refuse = compile(spec);
        let (address, none) = ("192.0.2.9".parse().unwrap(), HeaderMap::new());
        assert!(refuse.check(address, &none, Some("7")).is_err());
        assert!(refuse.check(address, &none, Some("8")).is_ok());
        assert!(refuse.check(address, &none, None).is_ok());
    }

    #[test]
    fn an_xff_resource_reads_that_entry_and_bad_specs_are_refused() {
        let last =
            compile(serde_json::json!({"type": "ALLOW", "resource": "XFF:-1", "items": [{"blocks": ["10.0.0.0/8"]}]}));
        let peer = "127.0.0.1".parse().unwrap();
        assert!(last.check(peer, &forwarded("203.0.113.1, 10.9.9.9"), None).is_ok());
        assert!(last.check(peer, &forwarded("10.9.9.9, 203.0.113.1"), None).is_err());
        assert!(last.check(peer, &HeaderMap::new(), None).is_err(), "no entry is not listed");
        let first =
            compile(serde_json::json!({"type": "ALLOW", "resource": "XFF:0", "items": [{"blocks": ["10.0.0.0/8"]}]}));
        assert!(first.check(peer, &forwarded("10.9.9.9, 203.0.113.1"), None).is_ok());
        let bad = serde_json::from_value(serde_json::json!({"type": "ALLOW", "items": [{"blocks": ["10.0.0.0/33"]}]}));
        let error = CompiledIpControl::compile(&NamedPlugin { plugin: "bad".into(), spec: bad.unwrap() }).unwrap_err();
        assert!(error.contains("10.0.0.0/33"), "{error}");
    }
}
