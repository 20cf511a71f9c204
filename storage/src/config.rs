//! `storage.cfg` rules: what a new storage must say, what an update may change, and the
//! default `local` storage. Errors come back per parameter, the way the API reports them.

use std::collections::BTreeMap;

use corral_api_types::storage::{ContentType, StorageConfig, StorageType, VolumeFormat};
use corral_api_types::{NodeName, StorageId};

pub type FieldErrors = BTreeMap<String, String>;

/// The storage every node has: its own directory under the data dir.
pub const LOCAL: &str = "local";

/// NFS versions corral speaks (userspace NFSv3).
pub const NFS_VERSIONS: &[&str] = &["3"];

pub fn default_local() -> StorageConfig {
    StorageConfig::new(StorageId::parse(LOCAL).expect("constant id"), StorageType::Dir, "backup,images,iso,vztmpl")
}

/// Parameters of `POST /storage` and `PUT /storage/{storage}`, as text.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct StorageParams {
    pub storage: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub content: Option<String>,
    pub path: Option<String>,
    pub server: Option<String>,
    pub export: Option<String>,
    pub options: Option<String>,
    pub nodes: Option<String>,
    pub disable: Option<bool>,
    pub shared: Option<bool>,
    #[serde(rename = "prune-backups")]
    pub prune_backups: Option<String>,
    pub format: Option<String>,
}

/// A new storage from `POST /storage` parameters (`type` and `storage` already required by the schema).
pub fn build_new(p: &StorageParams) -> Result<StorageConfig, FieldErrors> {
    let mut errors = FieldErrors::new();
    let id = match StorageId::parse(p.storage.as_deref().unwrap_or_default()) {
        Ok(id) => Some(id),
        Err(e) => {
            errors.insert("storage".into(), e.0);
            None
        }
    };
    let kind = match p.kind.as_deref() {
        Some("nfs") => StorageType::Nfs,
        Some("dir") => StorageType::Dir,
        other => {
            errors.insert("type".into(), format!("value '{}' does not have a value in the enumeration 'dir, nfs'", other.unwrap_or_default()));
            return Err(errors);
        }
    };
    let Some(id) = id else { return Err(errors) };
    let mut config = StorageConfig::new(id.clone(), kind, "images");
    match kind {
        StorageType::Nfs => {
            require(&mut errors, "server", &p.server, check_server).map(|s| config.server = Some(s));
            require(&mut errors, "export", &p.export, check_export).map(|e| config.export = Some(e));
            config.path = Some(match &p.path {
                Some(path) => check_path(path).map_err(|why| errors.insert("path".into(), why)).unwrap_or_default(),
                None => format!("/mnt/pve/{id}"),
            });
            if p.shared.is_some() {
                errors.insert("shared".into(), "NFS storages are always shared".into());
            }
        }
        StorageType::Dir => {
            require(&mut errors, "path", &p.path, check_path).map(|path| config.path = Some(path));
            for (name, value) in [("server", &p.server), ("export", &p.export), ("options", &p.options)] {
                if value.is_some() {
                    errors.insert(name.into(), format!("not allowed for type 'dir'"));
                }
            }
            config.shared = p.shared.unwrap_or(false);
        }
    }
    apply_common(&mut config, p, &mut errors);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

/// `PUT /storage/{storage}`: change what may change, drop the keys listed in `delete`.
pub fn apply_update(existing: &StorageConfig, p: &StorageParams, delete: &[String]) -> Result<StorageConfig, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut config = existing.clone();
    config.digest = None;
    for (name, given) in [("server", p.server.is_some()), ("export", p.export.is_some()), ("path", p.path.is_some()), ("type", p.kind.is_some()), ("storage", p.storage.is_some())] {
        if given {
            errors.insert(name.into(), format!("can't change value of fixed parameter '{name}'"));
        }
    }
    if p.shared.is_some() && config.kind == StorageType::Nfs {
        errors.insert("shared".into(), "NFS storages are always shared".into());
    } else if let Some(shared) = p.shared {
        config.shared = shared;
    }
    for key in delete {
        match key.as_str() {
            "content" => config.content = "images".into(),
            "options" => config.options = None,
            "nodes" => config.nodes = None,
            "disable" => config.disable = false,
            "shared" => config.shared = false,
            "prune-backups" => config.prune_backups = None,
            "format" => config.format = None,
            other => {
                errors.insert("delete".into(), format!("cannot delete '{other}'"));
            }
        }
    }
    apply_common(&mut config, p, &mut errors);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

fn apply_common(config: &mut StorageConfig, p: &StorageParams, errors: &mut FieldErrors) {
    if let Some(content) = &p.content {
        match ContentType::parse_list(content) {
            Ok(set) => {
                if let Some(bad) = set.iter().find(|c| !config.kind.allowed_content().contains(c)) {
                    errors.insert("content".into(), format!("storage does not support content type '{bad}'"));
                } else if set.is_empty() {
                    errors.insert("content".into(), "at least one content type is needed".into());
                } else {
                    config.content = ContentType::list_to_string(&set);
                }
            }
            Err(e) => {
                errors.insert("content".into(), e.0);
            }
        }
    }
    if let Some(options) = &p.options {
        if config.kind != StorageType::Nfs {
            errors.insert("options".into(), "not allowed for this storage type".into());
        } else {
            match check_options(options) {
                Ok(o) => config.options = Some(o),
                Err(why) => {
                    errors.insert("options".into(), why);
                }
            }
        }
    }
    if let Some(nodes) = &p.nodes {
        match check_nodes(nodes) {
            Ok(n) => config.nodes = n,
            Err(why) => {
                errors.insert("nodes".into(), why);
            }
        }
    }
    if let Some(disable) = p.disable {
        config.disable = disable;
    }
    if let Some(prune) = &p.prune_backups {
        match check_prune(prune) {
            Ok(()) => config.prune_backups = Some(prune.clone()),
            Err(why) => {
                errors.insert("prune-backups".into(), why);
            }
        }
    }
    if let Some(format) = &p.format {
        match VolumeFormat::parse(format) {
            Ok(f) => config.format = Some(f),
            Err(e) => {
                errors.insert("format".into(), e.0);
            }
        }
    }
}

fn require(errors: &mut FieldErrors, name: &str, value: &Option<String>, check: fn(&str) -> Result<String, String>) -> Option<String> {
    match value.as_deref() {
        None | Some("") => {
            errors.insert(name.into(), "property is missing and it is not optional".into());
            None
        }
        Some(v) => check(v).map_err(|why| errors.insert(name.into(), why)).ok(),
    }
}

/// An IP address or a DNS name (PVE's `pve-storage-server`).
pub fn check_server(text: &str) -> Result<String, String> {
    let bad = || format!("value '{text}' does not look like a valid server name or IP address");
    if text.parse::<std::net::IpAddr>().is_ok() {
        return Ok(text.to_string());
    }
    let label_ok = |l: &str| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if text.len() <= 253 && text.split('.').all(label_ok) {
        Ok(text.to_string())
    } else {
        Err(bad())
    }
}

/// An absolute export path without whitespace or `..`.
pub fn check_export(text: &str) -> Result<String, String> {
    check_path(text).map_err(|_| format!("value '{text}' does not look like a valid export path"))
}

/// An absolute path without whitespace, control characters or `..` components.
pub fn check_path(text: &str) -> Result<String, String> {
    let ok = text.starts_with('/')
        && text.len() <= 4096
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        && !text.split('/').any(|part| part == "..");
    if ok {
        Ok(text.trim_end_matches('/').to_string()).map(|p| if p.is_empty() { "/".to_string() } else { p })
    } else {
        Err(format!("value '{text}' does not look like a valid absolute path"))
    }
}

/// Mount options: a comma list without spaces; a `vers=` must be one corral speaks.
fn check_options(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 1024 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("value '{text}' does not look like a list of mount options"));
    }
    for option in text.split(',') {
        if let Some(version) = option.strip_prefix("vers=") {
            if !NFS_VERSIONS.contains(&version) {
                return Err(format!("NFS version '{version}' is not supported: corral speaks NFS version 3 (from userspace)"));
            }
        }
    }
    Ok(text.to_string())
}

fn check_nodes(text: &str) -> Result<Option<String>, String> {
    let names: Vec<&str> = text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if let Some(bad) = names.iter().find(|n| NodeName::parse(n).is_err()) {
        return Err(format!("value '{bad}' does not look like a valid node name"));
    }
    let mut names: Vec<&str> = names;
    names.sort_unstable();
    names.dedup();
    Ok(if names.is_empty() { None } else { Some(names.join(",")) })
}

/// PVE's retention property string: `keep-all=1` or `keep-<period>=N,…`.
fn check_prune(text: &str) -> Result<(), String> {
    const KEYS: &[&str] = &["keep-all", "keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"];
    for part in text.split(',') {
        let (key, value) = part.split_once('=').ok_or_else(|| format!("invalid format - expected 'key=value' in '{part}'"))?;
        if !KEYS.contains(&key) {
            return Err(format!("invalid format - unknown key '{key}'"));
        }
        value.parse::<u32>().map_err(|_| format!("invalid format - '{key}' needs a number"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nfs(id: &str) -> StorageParams {
        StorageParams {
            storage: Some(id.into()),
            kind: Some("nfs".into()),
            server: Some("10.0.0.4".into()),
            export: Some("/export".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_nfs_storage_gets_pve_defaults() {
        let config = build_new(&nfs("nfs1")).unwrap();
        assert_eq!(config.path.as_deref(), Some("/mnt/pve/nfs1"));
        assert_eq!(config.content, "images");
        assert!(config.is_shared());
    }

    #[test]
    fn every_bad_field_is_named() {
        let p = StorageParams {
            storage: Some("1x".into()),
            kind: Some("nfs".into()),
            server: Some("bad server".into()),
            export: Some("relative".into()),
            content: Some("images,disks".into()),
            options: Some("vers=4.2".into()),
            nodes: Some("n1,-bad".into()),
            ..Default::default()
        };
        let errors = build_new(&p).unwrap_err();
        assert_eq!(errors.keys().cloned().collect::<Vec<_>>(), ["storage"]);
        let p = StorageParams { storage: Some("nfs1".into()), ..p };
        let errors = build_new(&p).unwrap_err();
        assert_eq!(errors.keys().cloned().collect::<Vec<_>>(), ["content", "export", "nodes", "options", "server"]);
        assert!(errors["options"].contains("version 3"));
    }

    #[test]
    fn fixed_keys_stay_fixed() {
        let config = build_new(&nfs("nfs1")).unwrap();
        let change = StorageParams { server: Some("10.0.0.5".into()), content: Some("iso,images".into()), ..Default::default() };
        assert!(apply_update(&config, &change, &[]).unwrap_err().contains_key("server"));
        let change = StorageParams { content: Some("iso,images".into()), disable: Some(true), ..Default::default() };
        let updated = apply_update(&config, &change, &[]).unwrap();
        assert_eq!((updated.content.as_str(), updated.disable), ("images,iso", true));
        let back = apply_update(&updated, &StorageParams::default(), &["disable".into()]).unwrap();
        assert!(!back.disable);
    }

    #[test]
    fn paths_never_climb() {
        assert!(check_path("/srv/../etc").is_err());
        assert!(check_path("srv").is_err());
        assert_eq!(check_path("/srv/vm/").unwrap(), "/srv/vm");
    }
}
