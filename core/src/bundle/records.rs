//! A [`GatewayConfig`] as a sequence of small records, each with a stable identity: the unit the
//! shards are made of, so that one changed Api changes one record (and so one shard).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{ApiConfig, AppConfig, GatewayConfig, GroupConfig, UpstreamConfig};

/// One piece of a config, as written in a shard (JSON, one after the other).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Record<'a> {
    /// The document's own fields and its Apps (kept together: their order matters).
    Head {
        /// [`GatewayConfig::format`].
        format: Cow<'a, str>,
        /// [`GatewayConfig::instance`].
        instance: Cow<'a, str>,
        /// [`GatewayConfig::apps`], in order.
        apps: Cow<'a, [AppConfig]>,
    },
    /// A group without its Apis.
    Group(Box<Cow<'a, GroupConfig>>),
    /// An Api of the group `namespace/name`.
    Api {
        /// The group's `namespace/name`.
        group: Cow<'a, str>,
        /// The Api.
        api: Box<Cow<'a, ApiConfig>>,
    },
    /// A resolved VpcAccess.
    Upstream {
        /// Its `namespace/name`.
        key: Cow<'a, str>,
        /// Its endpoints.
        upstream: Cow<'a, UpstreamConfig>,
    },
}

/// Why records do not make a config.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No head record, or more than one.
    #[error("the config has {0} head records, not one")]
    Heads(usize),
    /// An Api names a group no record holds.
    #[error("Api {api} names group {group}, which the config does not hold")]
    NoGroup {
        /// The Api's name.
        api: String,
        /// The group it names.
        group: String,
    },
}

/// `config` as records with their identities, in a fixed order.
pub fn split(config: &GatewayConfig) -> Vec<(String, Record<'_>)> {
    let mut records = vec![(
        "head".to_owned(),
        Record::Head {
            format: Cow::Borrowed(&config.format),
            instance: Cow::Borrowed(&config.instance),
            apps: Cow::Borrowed(&config.apps),
        },
    )];
    for group in &config.groups {
        let key = group_key(group);
        let without_apis = GroupConfig {
            namespace: group.namespace.clone(),
            name: group.name.clone(),
            hosts: group.hosts.clone(),
            internal_host: group.internal_host.clone(),
            stages: group.stages.clone(),
            tls: group.tls.clone(),
            apis: Vec::new(),
        };
        records.push((format!("group/{key}"), Record::Group(Box::new(Cow::Owned(without_apis)))));
        for api in &group.apis {
            let record = Record::Api { group: Cow::Owned(key.clone()), api: Box::new(Cow::Borrowed(api)) };
            records.push((format!("api/{key}/{}", api.name), record));
        }
    }
    for (key, upstream) in &config.upstreams {
        let record = Record::Upstream { key: Cow::Borrowed(key), upstream: Cow::Borrowed(upstream) };
        records.push((format!("upstream/{key}"), record));
    }
    records
}

/// The config the records of [`split`] came from, whatever their order: groups by
/// `namespace/name`, Apis by name, as the translation orders them.
pub fn join<'a>(records: impl IntoIterator<Item = Record<'a>>) -> Result<GatewayConfig, RecordError> {
    let mut heads = Vec::new();
    let mut groups = BTreeMap::new();
    let mut apis = Vec::new();
    let mut upstreams = BTreeMap::new();
    for record in records {
        match record {
            Record::Head { format, instance, apps } => heads.push((format, instance, apps)),
            Record::Group(group) => {
                let group = group.into_owned();
                groups.insert(group_key(&group), group);
            }
            Record::Api { group, api } => apis.push((group, api.into_owned())),
            Record::Upstream { key, upstream } => {
                upstreams.insert(key.into_owned(), upstream.into_owned());
            }
        }
    }
    let [(format, instance, apps)] = <[_; 1]>::try_from(heads).map_err(|heads| RecordError::Heads(heads.len()))?;
    for (group, api) in apis {
        let Some(holder) = groups.get_mut(group.as_ref()) else {
            return Err(RecordError::NoGroup { api: api.name, group: group.into_owned() });
        };
        holder.apis.push(api);
    }
    let mut groups: Vec<GroupConfig> = groups.into_values().collect();
    for group in &mut groups {
        group.apis.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(GatewayConfig {
        format: format.into_owned(),
        instance: instance.into_owned(),
        groups,
        upstreams,
        apps: apps.into_owned(),
    })
}

fn group_key(group: &GroupConfig) -> String {
    format!("{}/{}", group.namespace, group.name)
}
