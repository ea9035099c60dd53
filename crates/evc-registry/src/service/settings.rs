//! Compatibility levels and modes: one implementation for both, since Confluent treats them
//! alike (a global value, a per-subject value that falls back to it, GET with
//! `defaultToGlobal`, DELETE answering the value that was in force). The config has more fields
//! than the level (alias, normalize, validateFields, compatibilityGroup, default and override
//! metadata and rule sets); they are stored beside it and follow the same scoping.
//!
//! Choices: a `PUT /config` updates the fields it gives and keeps the others (as Confluent's
//! config update); the config in force for a subject takes each field from the subject, else
//! from the global config; READONLY (and READONLY_OVERRIDE) refuse config writes as they refuse
//! registrations, while mode writes stay allowed (or a registry could never leave READONLY).

use evc_storage::Tx;

use evc_registry_api::{Config, ConfigUpdate};

use super::contract::validate_rule_set;
use super::{Registry, ServiceError};
use crate::compat::{CompatLevel, Mode};
use crate::store::{self, Setting};

/// A per-scope setting stored in `evc_config`.
pub(crate) trait SettingValue: Copy + std::fmt::Display + Send + 'static {
    const SETTING: Setting;
    /// The value when neither the subject nor the registry sets one.
    const DEFAULT: Self;
    fn parse(s: &str) -> Option<Self>;
    fn as_str(self) -> &'static str;
    /// The refusal of `GET /…/{subject}` without `defaultToGlobal` when the subject has none.
    fn not_set(subject: &str) -> ServiceError;
}

impl SettingValue for CompatLevel {
    const SETTING: Setting = Setting::Compatibility;
    const DEFAULT: Self = CompatLevel::Backward;
    fn parse(s: &str) -> Option<Self> {
        CompatLevel::parse(s)
    }
    fn as_str(self) -> &'static str {
        CompatLevel::as_str(self)
    }
    fn not_set(subject: &str) -> ServiceError {
        ServiceError::NoSubjectCompatibility {
            subject: subject.to_string(),
        }
    }
}

impl SettingValue for Mode {
    const SETTING: Setting = Setting::Mode;
    const DEFAULT: Self = Mode::ReadWrite;
    fn parse(s: &str) -> Option<Self> {
        Mode::parse(s)
    }
    fn as_str(self) -> &'static str {
        Mode::as_str(self)
    }
    fn not_set(subject: &str) -> ServiceError {
        ServiceError::NoSubjectMode {
            subject: subject.to_string(),
        }
    }
}

/// The value set on one scope (`None`: global), if any.
async fn own<T: SettingValue>(
    tx: &mut Tx,
    subject: Option<&str>,
) -> Result<Option<T>, ServiceError> {
    Ok(store::setting(tx, subject.unwrap_or(""), T::SETTING)
        .await?
        .as_deref()
        .and_then(T::parse))
}

/// The value in force for a subject (its own, else the global one, else the default).
pub(super) async fn effective<T: SettingValue>(
    tx: &mut Tx,
    subject: Option<&str>,
) -> Result<T, ServiceError> {
    if let Some(s) = subject {
        if let Some(v) = own::<T>(tx, Some(s)).await? {
            return Ok(v);
        }
    }
    Ok(own::<T>(tx, None).await?.unwrap_or(T::DEFAULT))
}

impl Registry {
    /// `GET /config[/{subject}]`, `GET /mode[/{subject}]`.
    pub(crate) async fn get_setting<T: SettingValue>(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<T, ServiceError> {
        let mut tx = self.read().await?;
        match subject {
            Some(s) if !default_to_global => own::<T>(&mut tx, Some(s))
                .await?
                .ok_or_else(|| T::not_set(s)),
            _ => effective(&mut tx, subject).await,
        }
    }

    /// `PUT /config[/{subject}]`, `PUT /mode[/{subject}]`. Switching to IMPORT where schemas
    /// exist needs `force`.
    pub(crate) async fn set_setting<T: SettingValue>(
        &self,
        subject: Option<&str>,
        value: T,
        force: bool,
    ) -> Result<(), ServiceError> {
        let mut tx = self.write().await?;
        if T::SETTING == Setting::Mode
            && Mode::parse(value.as_str()) == Some(Mode::Import)
            && !force
            && store::count_versions(&mut tx, subject).await? > 0
        {
            return Err(ServiceError::ImportNeedsForce);
        }
        store::set_setting(
            &mut tx,
            subject.unwrap_or(""),
            T::SETTING,
            Some(value.as_str()),
        )
        .await?;
        self.commit(tx).await?;
        tracing::info!(scope = subject.unwrap_or("<global>"), setting = ?T::SETTING, %value, "setting changed");
        Ok(())
    }

    /// `DELETE /config[/{subject}]`, `DELETE /mode[/{subject}]`: answers the value that was in
    /// force.
    pub(crate) async fn delete_setting<T: SettingValue>(
        &self,
        subject: Option<&str>,
    ) -> Result<T, ServiceError> {
        let mut tx = self.write().await?;
        let old = match subject {
            None => effective::<T>(&mut tx, None).await?,
            Some(s) => match own::<T>(&mut tx, Some(s)).await? {
                Some(v) => v,
                None if store::count_versions(&mut tx, Some(s)).await? == 0 => {
                    return Err(ServiceError::SubjectNotFound {
                        subject: s.to_string(),
                    })
                }
                None => return Err(T::not_set(s)),
            },
        };
        store::set_setting(&mut tx, subject.unwrap_or(""), T::SETTING, None).await?;
        self.commit(tx).await?;
        tracing::info!(scope = subject.unwrap_or("<global>"), setting = ?T::SETTING, "setting removed");
        Ok(old)
    }
}

/// The config fields of one scope, with its own level (`None` when the scope sets nothing).
async fn own_config(tx: &mut Tx, subject: Option<&str>) -> Result<Option<Config>, ServiceError> {
    let level = own::<CompatLevel>(tx, subject).await?;
    let fields = store::config_fields(tx, subject.unwrap_or("")).await?;
    if level.is_none() && fields.is_none() {
        return Ok(None);
    }
    let mut c = fields.unwrap_or_default();
    c.compatibility_level = level.map(|l| l.as_str().to_string());
    Ok(Some(c))
}

/// `b`'s fields over `a`'s.
fn overlay(a: Config, b: Config) -> Config {
    Config {
        compatibility_level: b.compatibility_level.or(a.compatibility_level),
        alias: b.alias.or(a.alias),
        normalize: b.normalize.or(a.normalize),
        validate_fields: b.validate_fields.or(a.validate_fields),
        compatibility_group: b.compatibility_group.or(a.compatibility_group),
        default_metadata: b.default_metadata.or(a.default_metadata),
        override_metadata: b.override_metadata.or(a.override_metadata),
        default_rule_set: b.default_rule_set.or(a.default_rule_set),
        override_rule_set: b.override_rule_set.or(a.override_rule_set),
    }
}

/// The config in force for a subject: each field from the subject, else the global config;
/// the level defaults to BACKWARD.
pub(super) async fn effective_config(
    tx: &mut Tx,
    subject: &str,
) -> Result<(CompatLevel, Config), ServiceError> {
    let global = own_config(tx, None).await?.unwrap_or_default();
    let own = own_config(tx, Some(subject)).await?.unwrap_or_default();
    let c = overlay(global, own);
    let level = c
        .compatibility_level
        .as_deref()
        .and_then(CompatLevel::parse)
        .unwrap_or(CompatLevel::DEFAULT);
    Ok((level, c))
}

/// The subject a subject's `alias` config names, or the subject itself.
pub(super) async fn resolve_alias(tx: &mut Tx, subject: &str) -> Result<String, ServiceError> {
    Ok(store::config_fields(tx, subject)
        .await?
        .and_then(|c| c.alias)
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| subject.to_string()))
}

impl Registry {
    /// Refuses config writes to a scope whose mode is read-only.
    async fn check_config_writable(tx: &mut Tx, subject: Option<&str>) -> Result<(), ServiceError> {
        let mode: Mode = effective(tx, subject).await?;
        if mode.is_read_only() {
            return Err(ServiceError::ReadOnlyMode {
                subject: subject.unwrap_or("<global>").to_string(),
            });
        }
        Ok(())
    }

    /// `GET /config[/{subject}]`.
    pub(crate) async fn get_config(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<Config, ServiceError> {
        let mut tx = self.read().await?;
        if let Some(s) = subject {
            match own_config(&mut tx, Some(s)).await? {
                Some(c) => return Ok(c),
                None if !default_to_global => return Err(CompatLevel::not_set(s)),
                None => {}
            }
        }
        let mut c = own_config(&mut tx, None).await?.unwrap_or_default();
        c.compatibility_level
            .get_or_insert_with(|| CompatLevel::DEFAULT.as_str().to_string());
        Ok(c)
    }

    /// `PUT /config[/{subject}]`: sets the fields the update gives, keeps the others; answers
    /// what was set.
    pub(crate) async fn put_config(
        &self,
        subject: Option<&str>,
        update: ConfigUpdate,
    ) -> Result<ConfigUpdate, ServiceError> {
        let level = match update
            .compatibility
            .clone()
            .or(update.compatibility_level.clone())
        {
            Some(raw) => Some(
                CompatLevel::parse(&raw)
                    .ok_or(ServiceError::InvalidCompatibility { given: raw })?,
            ),
            None => None,
        };
        for rs in [&update.default_rule_set, &update.override_rule_set]
            .into_iter()
            .flatten()
        {
            validate_rule_set(rs)?;
        }
        let fields = Config {
            compatibility_level: None,
            alias: update.alias.clone(),
            normalize: update.normalize,
            validate_fields: update.validate_fields,
            compatibility_group: update.compatibility_group.clone(),
            default_metadata: update.default_metadata.clone(),
            override_metadata: update.override_metadata.clone(),
            default_rule_set: update.default_rule_set.clone(),
            override_rule_set: update.override_rule_set.clone(),
        };
        if level.is_none() && fields == Config::default() {
            return Err(ServiceError::EmptyConfig);
        }
        let scope = subject.unwrap_or("");
        let mut tx = self.write().await?;
        Self::check_config_writable(&mut tx, subject).await?;
        if let Some(l) = level {
            store::set_setting(&mut tx, scope, Setting::Compatibility, Some(l.as_str())).await?;
        }
        if fields != Config::default() {
            let old = store::config_fields(&mut tx, scope)
                .await?
                .unwrap_or_default();
            store::set_config_fields(&mut tx, scope, Some(&overlay(old, fields))).await?;
        }
        self.commit(tx).await?;
        tracing::info!(scope = subject.unwrap_or("<global>"), compatibility = ?level, "config changed");
        let mut answer = update;
        answer.compatibility = level.map(|l| l.as_str().to_string());
        answer.compatibility_level = None;
        Ok(answer)
    }

    /// `DELETE /config[/{subject}]`: removes the scope's config; answers the one in force
    /// before.
    pub(crate) async fn delete_config(
        &self,
        subject: Option<&str>,
    ) -> Result<Config, ServiceError> {
        let mut tx = self.write().await?;
        Self::check_config_writable(&mut tx, subject).await?;
        let old = match subject {
            None => {
                let mut c = own_config(&mut tx, None).await?.unwrap_or_default();
                c.compatibility_level
                    .get_or_insert_with(|| CompatLevel::DEFAULT.as_str().to_string());
                c
            }
            Some(s) => match own_config(&mut tx, Some(s)).await? {
                Some(c) => c,
                None if store::count_versions(&mut tx, Some(s)).await? == 0 => {
                    return Err(ServiceError::SubjectNotFound {
                        subject: s.to_string(),
                    })
                }
                None => return Err(CompatLevel::not_set(s)),
            },
        };
        let scope = subject.unwrap_or("");
        store::set_setting(&mut tx, scope, Setting::Compatibility, None).await?;
        store::set_config_fields(&mut tx, scope, None).await?;
        self.commit(tx).await?;
        tracing::info!(scope = subject.unwrap_or("<global>"), "config removed");
        Ok(old)
    }
}
