//! Fleet repositories through the real binary: init, import from the ODS list, add, list, show, and the
//! errors a shared digital team meets (overlapping ranges, a broken fleet.yaml, a malformed extract).

use crate::harness::{head, Output, Test};

const RHW: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/blueprints/exemplar-epr/examples/royal-berkshire-rhw.yaml"
);

/// A fleet of the North West's open trusts (Y62) from the bundled extract.
fn north_west() -> Output {
    let out = Test::new().args(["fleet", "init", "fleet"]).run();
    Test::in_dir(out.dir)
        .args([
            "fleet", "import", "--fleet", "fleet", "--ods", "bundled", "--region", "Y62",
        ])
        .stdout_has("30 added, 0 unchanged, 10 closed skipped")
        .run()
}

fn cidr(s: &str) -> (u32, u32) {
    let (addr, len) = s.split_once('/').unwrap();
    let ip: std::net::Ipv4Addr = addr.parse().unwrap();
    let len: u32 = len.parse().unwrap();
    let start = u32::from(ip);
    (start, start + ((1u64 << (32 - len)) - 1) as u32)
}

#[test]
fn import_gives_every_open_trust_its_own_range_and_again_changes_nothing() {
    let out = north_west();
    let fleet = out.path("fleet");
    let first = head(&fleet).expect("import committed");
    let out = Test::in_dir(out.dir)
        .args([
            "fleet", "import", "--fleet", "fleet", "--ods", "bundled", "--region", "Y62",
        ])
        .stdout_has("0 added, 30 unchanged")
        .stdout_has("nothing changed, no commit")
        .run();
    assert_eq!(head(&fleet).as_deref(), Some(first.as_str()));

    let out = Test::in_dir(out.dir)
        .args(["fleet", "list", "--fleet", "fleet", "--output", "json"])
        .run();
    let trusts = out.json()["trusts"].as_array().unwrap().clone();
    assert_eq!(trusts.len(), 30);
    assert!(trusts.iter().all(|t| t["region"] == "Y62"));
    let mut ranges: Vec<(u32, u32)> = trusts
        .iter()
        .map(|t| cidr(t["address_space"].as_str().unwrap()))
        .collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        assert!(pair[0].1 < pair[1].0, "overlap: {pair:?}");
    }
    // Manchester University NHS FT, a teaching trust of the North West in Greater Manchester's ICB.
    let r0a = trusts.iter().find(|t| t["ods"] == "R0A").unwrap();
    assert_eq!(r0a["icb"], "QOP");
    assert_eq!(r0a["ring"], "broad");
}

#[test]
fn renamed_and_closed_trusts_are_reported() {
    let line = |code: &str, name: &str, closed: &str| {
        let mut f = vec![String::new(); 27];
        f[0] = code.into();
        f[1] = name.into();
        f[2] = "Y62".into();
        f[3] = "QOP".into();
        f[11] = closed.into();
        f[23] = "B".into();
        f.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(",")
            + "\r\n"
    };
    let before = line("RM3", "SALFORD ROYAL NHS FOUNDATION TRUST", "")
        + &line("RW6", "PENNINE ACUTE HOSPITALS NHS TRUST", "");
    let after = line("RM3", "NORTHERN CARE ALLIANCE NHS FOUNDATION TRUST", "")
        + &line("RW6", "PENNINE ACUTE HOSPITALS NHS TRUST", "20210331");
    let out = Test::new()
        .write("old.csv", &before)
        .write("new.csv", &after)
        .args(["fleet", "init", "fleet"])
        .run();
    let out = Test::in_dir(out.dir)
        .args(["fleet", "import", "--fleet", "fleet", "--ods", "old.csv"])
        .stdout_has("2 added")
        .run();
    let out = Test::in_dir(out.dir)
        .args(["fleet", "import", "--fleet", "fleet", "--ods", "new.csv"])
        .stdout_has("renamed: RM3: SALFORD ROYAL NHS FOUNDATION TRUST -> NORTHERN CARE ALLIANCE NHS FOUNDATION TRUST")
        .stdout_has("closed: RW6 PENNINE ACUTE HOSPITALS NHS TRUST on 20210331 (merged or dissolved)")
        .run();
    let yaml = out.read("fleet/fleet.yaml");
    assert!(yaml.contains("closed: '20210331'"), "{yaml}");
}

#[test]
fn an_overlapping_manual_range_is_refused_naming_both_and_nothing_is_written() {
    let out = north_west();
    let fleet = out.path("fleet");
    let before = head(&fleet);
    // R0A holds 10.64.0.0/17; a trust whose own values claim a range inside it is refused.
    let values = std::fs::read_to_string(RHW).unwrap().replace(
        "address_space: 10.31.0.0/16",
        "address_space: 10.64.64.0/18",
    );
    let out = Test::in_dir(out.dir)
        .write("rhw.yaml", &values)
        .args([
            "fleet", "add", "RHW", "--fleet", "fleet", "--values", "rhw.yaml",
        ])
        .status(4)
        .stderr_has("address space of trust RHW (10.64.64.0/18) overlaps trust R0A (10.64.0.0/17)")
        .run();
    assert_eq!(head(&fleet), before);
    assert!(!out.path("fleet/trusts/RHW").exists());
    assert!(!out.read("fleet/fleet.yaml").contains("RHW"));

    // Its own range is fine: added, committed with its values file in one commit.
    let out = Test::in_dir(out.dir)
        .args(["fleet", "add", "rhw", "--fleet", "fleet", "--values", RHW])
        .stdout_has(
            "added RHW ROYAL BERKSHIRE NHS FOUNDATION TRUST with address space 10.31.0.0/16",
        )
        .run();
    assert_ne!(head(&fleet), before);
    assert_eq!(
        out.read("fleet/trusts/RHW/values.yaml"),
        std::fs::read_to_string(RHW).unwrap()
    );
    let repo = git2::Repository::open(&fleet).unwrap();
    let statuses = repo.statuses(None).unwrap();
    assert!(statuses.is_empty(), "the add left uncommitted files");
    Test::in_dir(out.dir)
        .args(["fleet", "show", "RHW", "--fleet", "fleet"])
        .stdout_has("address space  10.31.0.0/16 (manual)")
        .stdout_has("values         trusts/RHW/values.yaml over the fleet defaults")
        .run();
}

#[test]
fn a_broken_fleet_file_and_a_broken_extract_are_named() {
    let out = Test::new()
        .write(
            "fleet/fleet.yaml",
            "blueprint: {source: embedded}\nrings: [{name: canary}]\ntrusts:\n  RM3: {name: A, rnig: canary}\n",
        )
        .args(["fleet", "list", "--fleet", "fleet"])
        .status(4)
        .stderr_has("fleet/fleet.yaml: trusts.RM3: unknown field `rnig`")
        .run();
    let out = Test::in_dir(out.dir)
        .write(
            "fleet/fleet.yaml",
            "blueprint: {source: embedded}\nrings: [{name: canary}]\ntrusts:\n  RM3: {name: A, ring: canry}\n",
        )
        .args(["fleet", "list", "--fleet", "fleet"])
        .status(4)
        .stderr_has("fleet.yaml: trusts.RM3.ring: no ring named \"canry\" in rings (canary)")
        .run();
    let out = Test::in_dir(out.dir)
        .write("fleet/fleet.yaml", "blueprint: {source: embedded}\n")
        .write("bad.csv", "\"RM3\",\"NORTHERN CARE ALLIANCE\"\r\n")
        .args(["fleet", "import", "--fleet", "fleet", "--ods", "bad.csv"])
        .status(4)
        .stderr_has("bad.csv:1: expected 27 columns (NHS Digital's etr extract), found 2")
        .run();
    Test::in_dir(out.dir)
        .args(["fleet", "show", "RXX", "--fleet", "fleet"])
        .status(4)
        .stderr_has("trust RXX is not in the fleet")
        .run();
    Test::new()
        .args(["fleet", "list", "--fleet", "nowhere"])
        .status(4)
        .stderr_has("nowhere: not a fleet repository (no fleet.yaml); create one with `trustprint fleet init nowhere`")
        .run();
}
