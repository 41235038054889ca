//! The IP-control plugin: an allow list (ALLOW) or a deny list (REFUSE) of address blocks, for
//! every caller or for one App, over the connection's address or an `X-Forwarded-For` entry.

use std::net::IpAddr;

use apigw_core::config::NamedPlugin;
use apigw_core::resources::{IpControl, IpControlType};
use http::HeaderMap;
use ipnet::IpNet;

use crate::error::GatewayError;

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
            Some(index) => forwarded(headers, index),
        };
        let listed = address.is_some_and(|address| {
            applicable.iter().any(|item| item.blocks.iter().any(|block| block.contains(&address)))
        });
        if listed == self.allow { Ok(()) } else { Err(GatewayError::IpDenied) }
    }
}

/// The `X-Forwarded-For` entry at `index` (negative from the end: -1 the last).
fn forwarded(headers: &HeaderMap, index: i64) -> Option<IpAddr> {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let position = if index < 0 { entries.len().checked_sub(index.unsigned_abs() as usize)? } else { index as usize };
    entries.get(position)?.parse().ok()
}
