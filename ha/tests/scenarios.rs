//! Golden-log scenarios in pve-ha-manager's style: every directory under `tests/scenarios/`
//! holds `README` (what it shows), `init` (`nodes …` and the starting state), `cmds` (the
//! script, run after a settling minute) and `log.expect` (the exact log). `CORRAL_HA_RECORD=1`
//! rewrites `log.expect` from the run (read the diff before committing it).

use std::path::Path;

use corral_ha::sim::{Sim, Timing};

fn run(dir: &Path) -> (Sim, Vec<String>) {
    let init = std::fs::read_to_string(dir.join("init")).expect("init");
    let cmds = std::fs::read_to_string(dir.join("cmds")).expect("cmds");
    let lines = |text: &str| text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect::<Vec<_>>();
    let init = lines(&init);
    let nodes: Vec<&str> = init[0].strip_prefix("nodes ").expect("init starts with `nodes …`").split_whitespace().collect();
    let mut sim = Sim::new(&nodes, Timing::default());
    for line in &init[1..] {
        sim.command(line).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    sim.run(20_000);
    for line in lines(&cmds) {
        sim.command(&line).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    sim.run(30_000);
    let log = sim.log();
    (sim, log)
}

#[test]
fn scenarios_match_their_golden_logs() {
    // Relative to the package, where cargo runs its tests: a test binary built in another
    // checkout sharing the target dir would carry that checkout's CARGO_MANIFEST_DIR.
    let root = Path::new("tests/scenarios");
    let mut dirs: Vec<_> = std::fs::read_dir(root).expect("scenarios").filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let record = std::env::var_os("CORRAL_HA_RECORD").is_some();
    let mut failed = Vec::new();
    for dir in &dirs {
        let (sim, log) = run(dir);
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(sim.double_runs(), 0, "{name}: a guest ran on two nodes at once:\n{}", log.join("\n"));
        let text = log.join("\n") + "\n";
        let golden = dir.join("log.expect");
        if record {
            std::fs::write(&golden, &text).expect("write log.expect");
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != text {
            let first = expected.lines().zip(text.lines()).position(|(a, b)| a != b).unwrap_or(expected.lines().count().min(text.lines().count()));
            failed.push(format!("{name}: log differs from log.expect at line {}:\n  expected: {}\n  got:      {}", first + 1, expected.lines().nth(first).unwrap_or("<end>"), text.lines().nth(first).unwrap_or("<end>")));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(dirs.len() >= 9, "scenarios missing");
}
