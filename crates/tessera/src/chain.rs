//! [`Chain`]: an error and its sources on one line, for logs. Errors here name what failed in
//! `Display` and keep the cause as `source()`, so a log line shows the whole chain.

use std::error::Error;
use std::fmt;

/// Displays `error: source: source's source…`.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_is_shown_once() {
        let error = crate::config::ConfigError::Store(crate::store::Error::BadUrl {
            url: "nosuch://".into(),
            reason: "unknown scheme".into(),
        });
        assert_eq!(
            Chain(&error).to_string(),
            "SESSION_URL: the session store cannot be opened: cannot open session store \"nosuch://\": unknown scheme"
        );
    }
}
