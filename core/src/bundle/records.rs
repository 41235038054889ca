//! A [`GatewayConfig`] as a sequence of small records, each with a stable identity: the unit the
//! shards are made of, so that one changed Api changes one record (and so one shard).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
        records.push((format!("group/{key}"), Record::Group(Box::new(Cow::Owned(without_apis(group))))));
        for api in &group.apis {
            let record = Record::Api { group: Cow::Owned(key.clone()), api: Box::new(Cow::Borrowed(&**api)) };
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
            Record::Api { group, api } => apis.push((group, api)),
            Record::Upstream { key, upstream } => {
                upstreams.insert(key.into_owned(), upstream.into_owned());
            }
        }
    }
    let [(format, instance, apps)] = <[_; 1]>::try_from(heads).map_err(|heads| RecordError::Heads(heads.len()))?;
    let mut config = GatewayConfig {
        format: format.into_owned(),
        instance: instance.into_owned(),
        groups: groups.into_values().collect(),
        upstreams,
        apps: apps.into_owned(),
    };
    attach(&mut config, apis)?;
    Ok(config)
}

/// Adds Api records (`(group, api)`, as [`Record::Api`] holds them) to the groups of `config`,
/// keeping each group's Apis ordered by name.
pub fn attach<'a>(
    config: &mut GatewayConfig,
    apis: impl IntoIterator<Item = (Cow<'a, str>, Box<Cow<'a, ApiConfig>>)>,
) -> Result<(), RecordError> {
    let positions: HashMap<String, usize> =
        config.groups.iter().enumerate().map(|(position, group)| (group_key(group), position)).collect();
    let mut touched = vec![false; config.groups.len()];
    for (group, api) in apis {
        let Some(&position) = positions.get(group.as_ref()) else {
            return Err(RecordError::NoGroup { api: api.name.clone(), group: group.into_owned() });
        };
        config.groups[position].apis.push(Arc::new(api.into_owned()));
        touched[position] = true;
    }
    for (group, _) in config.groups.iter_mut().zip(touched).filter(|(_, touched)| *touched) {
        group.apis.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(())
}

impl Record<'_> {
    /// The same record, borrowing what this one holds.
    pub fn view(&self) -> Record<'_> {
        match self {
            Record::Head { format, instance, apps } => Record::Head {
                format: Cow::Borrowed(format),
                instance: Cow::Borrowed(instance),
                apps: Cow::Borrowed(apps),
            },
            Record::Group(group) => Record::Group(Box::new(Cow::Borrowed(group))),
            Record::Api { group, api } => {
                Record::Api { group: Cow::Borrowed(group), api: Box::new(Cow::Borrowed(api)) }
            }
            Record::Upstream { key, upstream } => {
                Record::Upstream { key: Cow::Borrowed(key), upstream: Cow::Borrowed(upstream) }
            }
        }
    }
}

/// The records of one config found by identity: which records of another config are equal to
/// this one's.
pub struct Lookup<'a> {
    config: &'a GatewayConfig,
    /// Groups by `namespace/name`.
    groups: HashMap<String, &'a GroupConfig>,
}

impl<'a> Lookup<'a> {
    /// Indexes the groups of `config`.
    pub fn new(config: &'a GatewayConfig) -> Self {
        Self { config, groups: config.groups.iter().map(|group| (group_key(group), group)).collect() }
    }

    /// Whether `config` holds a record equal to `record` under its identity.
    pub fn holds(&self, record: &Record) -> bool {
        let config = self.config;
        match record {
            Record::Head { format, instance, apps } => {
                config.format == *format && config.instance == *instance && config.apps[..] == apps[..]
            }
            Record::Group(group) => {
                self.groups.get(&group_key(group)).is_some_and(|held| without_apis(held) == ***group)
            }
            // A group's Apis are ordered by name; a miss only means the record is written anew.
            // An Api a translation reused is the same object: not compared field by field.
            Record::Api { group, api } => self.groups.get(group.as_ref()).is_some_and(|held| {
                let found = held.apis.binary_search_by(|held| held.name.as_str().cmp(&api.name));
                found.is_ok_and(|index| {
                    let held: &ApiConfig = &held.apis[index];
                    std::ptr::eq(held, &***api) || *held == ***api
                })
            }),
            Record::Upstream { key, upstream } => config.upstreams.get(key.as_ref()) == Some(upstream.as_ref()),
        }
    }
}

/// `group`'s own fields, without its Apis (each is a record of its own).
fn without_apis(group: &GroupConfig) -> GroupConfig {
    GroupConfig {
        namespace: group.namespace.clone(),
        name: group.name.clone(),
        hosts: group.hosts.clone(),
        internal_host: group.internal_host.clone(),
        stages: group.stages.clone(),
        tls: group.tls.clone(),
        apis: Vec::new(),
    }
}

/// A group's identity in records: `namespace/name`.
pub fn group_key(group: &GroupConfig) -> String {
    format!("{}/{}", group.namespace, group.name)
}
