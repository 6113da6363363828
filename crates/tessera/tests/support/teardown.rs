//! Unique table names and a teardown that runs even while a test unwinds.

use std::sync::{Arc, Mutex};

/// A fresh name for a test table or collection: `{prefix}_{16 random hex digits}`.
pub fn unique_name(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}_{hex}")
}

/// Runs an async clean-up (dropping a test table) when the last clone is dropped, on its own
/// thread and runtime so it also runs while a test unwinds.
#[derive(Clone)]
pub struct Teardown(Arc<CleanupInner>);

struct CleanupInner(Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl Teardown {
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        let run = move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(f());
        };
        Self(Arc::new(CleanupInner(Mutex::new(Some(Box::new(run))))))
    }
}

impl Drop for CleanupInner {
    fn drop(&mut self) {
        if let Some(run) = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            let _ = std::thread::spawn(run).join();
        }
    }
}
