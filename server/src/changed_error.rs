//! A periodic loop's failures, logged when they change rather than every round: a loop that
//! runs every few hundred milliseconds against a broken peer or store would otherwise fill the
//! log with the same line.

#[derive(Default)]
pub struct ChangedError {
    last: String,
}

impl ChangedError {
    /// Note one round's outcome; warn (as `what: error`) if it failed differently from the last.
    pub fn note(&mut self, what: &str, result: anyhow::Result<()>) {
        match result {
            Ok(()) => self.last.clear(),
            Err(err) => {
                let text = format!("{err:#}");
                if text != self.last {
                    tracing::warn!("{what}: {text}");
                    self.last = text;
                }
            }
        }
    }
}
