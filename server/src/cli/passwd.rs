//! `corral passwd [USER]`: set a password in the node's database. Asks twice on a terminal;
//! otherwise reads one line from stdin (for scripts).

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use corral_api_types::Userid;

use crate::auth::{password, unix_now, user_store};
use crate::{daemon, db};

/// PVE's minimum password length.
pub const MIN_LEN: usize = 5;

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let again = rpassword::prompt_password("Retype new password: ")?;
        anyhow::ensure!(first == again, "passwords do not match");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }
}

pub async fn run(data_dir: &Path, user: &str) -> anyhow::Result<()> {
    let userid = Userid::parse(user)?;
    let secret = read_password()?;
    anyhow::ensure!(secret.chars().count() >= MIN_LEN, "password is too short (at least {MIN_LEN} characters)");
    let db = db::open(&daemon::database_path(data_dir)).await?;
    user_store::set_password(&db, &userid, &password::hash(secret).await?, unix_now()).await?;
    let _ = std::fs::remove_file(daemon::initial_password_path(data_dir));
    println!("password for {userid} changed");
    Ok(())
}
