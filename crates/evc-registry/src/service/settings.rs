//! Compatibility levels and modes: one implementation for both, since Confluent treats them
//! alike (a global value, a per-subject value that falls back to it, GET with
//! `defaultToGlobal`, DELETE answering the value that was in force).

use evc_storage::Tx;

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
        tx.commit().await?;
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
        tx.commit().await?;
        tracing::info!(scope = subject.unwrap_or("<global>"), setting = ?T::SETTING, "setting removed");
        Ok(old)
    }
}
