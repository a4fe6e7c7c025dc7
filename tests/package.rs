//! The Debian package: `liteimap man`, the manual page it ships (every command and option that
//! `--help` shows is on it with the same text, and groff, through `man -l` too, formats it
//! without a warning), and its metadata in Cargo.toml agreeing with the unit and the config
//! file. (`.ci/deb-check` builds, installs and purges the package itself.)

mod common;
use common::*;

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_liteimap");

fn stdout_of(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "liteimap {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn man_page() -> String {
    stdout_of(&["man"])
}

/// One entry of an argh help section ("Options:", "Commands:", "Positional Arguments:"): its
/// name and its description with the wrapping undone.
#[derive(Debug)]
struct Entry {
    name: String,
    description: String,
}

/// The entries of section `title` in argh's help text: a line indented by two spaces starts
/// one (the name, then its description or nothing when the name is too long), deeper indented
/// lines continue it, a blank line ends the section.
fn section(help: &str, title: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut lines = help.lines().skip_while(|l| *l != title);
    if lines.next().is_none() {
        return entries;
    }
    for line in lines.take_while(|l| !l.trim().is_empty()) {
        let words = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.starts_with("  ") && !line.starts_with("   ") {
            let (name, rest) = words.split_once(' ').unwrap_or((&words, ""));
            entries.push(Entry {
                name: name.trim_end_matches(',').to_string(),
                description: rest.to_string(),
            });
        } else if let Some(last) = entries.last_mut() {
            if !last.description.is_empty() {
                last.description.push(' ');
            }
            last.description.push_str(&words);
        }
    }
    entries
}

/// The roff source as plain words: escapes undone, font changes dropped, whitespace joined.
fn plain(roff: &str) -> String {
    roff.replace("\\-", "-")
        .replace("\\&", "")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\e", "\\")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every leaf command as its words (`["user", "add"]`), found by walking `--help` itself.
fn leaf_commands(path: Vec<String>) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let help = stdout_of(&args);
    let subs = section(&help, "Commands:");
    if subs.is_empty() {
        return vec![path];
    }
    subs.into_iter()
        .flat_map(|sub| {
            let mut longer = path.clone();
            longer.push(sub.name);
            leaf_commands(longer)
        })
        .collect()
}

#[test]
fn the_man_page_has_every_command_and_option_of_help_with_its_text() {
    let page = man_page();
    let text = plain(&page);
    let leaves = leaf_commands(Vec::new());
    // A floor, so a broken walk cannot pass by finding nothing.
    assert!(leaves.len() >= 13, "{leaves:?}");
    for leaf in &leaves {
        let name = leaf.join(" ");
        assert!(
            page.contains(&format!(".SS \"{name}\"\n")),
            "no subsection for `liteimap {name}`"
        );
        let mut args: Vec<&str> = leaf.iter().map(String::as_str).collect();
        args.push("--help");
        let help = stdout_of(&args);
        // The paragraph after the usage line is the command's description.
        let about = help.split("\n\n").nth(1).unwrap();
        let about = about.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains(&about), "`{name}`'s description: {about}");
        let entries = section(&help, "Options:")
            .into_iter()
            .chain(section(&help, "Positional Arguments:"))
            .filter(|e| e.name != "--help");
        for e in entries {
            let item = format!("{} {}", e.name, e.description);
            assert!(
                text.contains(&e.description) && text.contains(&e.name),
                "`liteimap {name}`: {item}"
            );
        }
    }
    // The global options too.
    for e in section(&stdout_of(&["--help"]), "Options:")
        .into_iter()
        .filter(|e| e.name != "--help")
    {
        assert!(text.contains(&format!("{} {} {}", e.name, &e.name[2..], e.description)));
    }
}

/// Named one by one, so that a flag added to `serve` but somehow missing from `--help`'s walk
/// still shows up here as a failure: every serve flag has its own entry (`.TP` then the flag).
#[test]
fn the_man_page_lists_every_serve_flag() {
    let page = man_page();
    let serve = page.split(".SS \"serve\"\n").nth(1).unwrap();
    let serve = serve.split(".SS ").next().unwrap();
    let flags: Vec<String> = section(&stdout_of(&["serve", "--help"]), "Options:")
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n != "--help")
        .collect();
    assert!(flags.len() >= 29, "{flags:?}");
    for flag in ["--listen", "--tls-listen", "--metrics-listen", "--no-fts"] {
        assert!(
            flags.iter().any(|f| f == flag),
            "{flag} not in serve --help"
        );
    }
    for flag in &flags {
        let entry = format!(".TP\n\\fB{}\\fR", flag.replace('-', "\\-"));
        assert!(serve.contains(&entry), "serve's {flag} has no entry");
    }
    // And the one option argh does not define.
    assert!(page.contains("\\fB\\-V\\fR, \\fB\\-\\-version\\fR"));
}

/// groff with every warning on, then man-db's `man -l` (what `man liteimap` runs): no
/// warning, and the formatted page reads as expected.
#[test]
fn groff_and_man_format_the_page_without_warnings() {
    let dir = TempDir::new("manpage");
    let file = dir.path().join("liteimap.1");
    std::fs::write(&file, man_page()).unwrap();
    let groff = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&file)
        .output();
    let Ok(groff) = groff else {
        eprintln!("groff is not installed (Debian: groff-base); skipping");
        return;
    };
    assert!(groff.status.success(), "{groff:?}");
    assert_eq!(String::from_utf8_lossy(&groff.stderr), "");
    let Ok(man) = Command::new("man")
        .args(["--warnings=all", "-l"])
        .arg(&file)
        .env("MANWIDTH", "80")
        .env("MAN_KEEP_FORMATTING", "")
        .output()
    else {
        eprintln!("man is not installed (Debian: man-db); skipping");
        return;
    };
    assert!(man.status.success(), "{man:?}");
    assert_eq!(String::from_utf8_lossy(&man.stderr), "");
    let shown = String::from_utf8_lossy(&man.stdout);
    let shown = shown.split_whitespace().collect::<Vec<_>>().join(" ");
    for words in [
        "LITEIMAP(1)",
        "NAME liteimap - A single-binary IMAP4rev1 server",
        "liteimap [global options] command",
        "--max-connections max-connections most simultaneous connections",
        "user add liteimap [global options] user add [options] name",
        "/etc/liteimap/liteimap.toml",
    ] {
        assert!(shown.contains(words), "{words:?} not in\n{shown}");
    }
}

/// The check above sees a warning when there is one (a macro groff does not know).
#[test]
fn groff_reports_a_broken_page() {
    let dir = TempDir::new("manpage-broken");
    let file = dir.path().join("broken.1");
    std::fs::write(&file, format!("{}.XQ oops\n", man_page())).unwrap();
    let Ok(groff) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&file)
        .output()
    else {
        return;
    };
    assert!(!groff.stderr.is_empty());
}

/// The paths the package, the unit, the sysusers file and the config file name agree: the unit
/// runs the binary where the package puts it, on the config file it installs, as the user
/// sysusers creates, whose home is the state directory that holds the config's database.
#[test]
fn the_package_metadata_agrees_with_the_unit_and_the_config_file() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |p: &str| std::fs::read_to_string(format!("{root}/{p}")).unwrap();
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    let deb = &manifest["package"]["metadata"]["deb"];
    let assets: Vec<(String, String, String)> = deb["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_array().unwrap();
            let s = |i: usize| a[i].as_str().unwrap().to_string();
            (s(0), s(1), s(2))
        })
        .collect();
    let has = |src: &str, dest: &str, mode: &str| {
        assert!(
            assets.contains(&(src.into(), dest.into(), mode.into())),
            "no asset {src} -> {dest} ({mode}) in {assets:?}"
        );
    };
    has("target/release/liteimap", "usr/bin/", "755");
    has("dist/liteimap.toml", "etc/liteimap/liteimap.toml", "644");
    has(
        "target/man/liteimap.1",
        "usr/share/man/man1/liteimap.1",
        "644",
    );
    let units = &deb["systemd-units"];
    assert_eq!(units["unit-scripts"].as_str(), Some("dist"));
    // Not started at install: the first start needs a user.
    assert_eq!(units["start"].as_bool(), Some(false));
    assert_eq!(units["enable"].as_bool(), Some(false));
    // dist/build-deb renders the man page to where the asset expects it.
    assert!(read("dist/build-deb").contains("target/release/liteimap man > target/man/liteimap.1"));

    let unit = read("dist/liteimap.service");
    let line = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("the unit has no {key}="))
            .to_string()
    };
    assert_eq!(
        line("ExecStart"),
        "/usr/bin/liteimap --config /etc/liteimap/liteimap.toml serve"
    );
    assert!(
        line("ExecStartPre").starts_with("/usr/bin/liteimap --config /etc/liteimap/liteimap.toml ")
    );
    assert_eq!(line("User"), "liteimap");
    assert_eq!(line("StateDirectory"), "liteimap");

    let sysusers = read("dist/liteimap.sysusers");
    let user = sysusers
        .lines()
        .find(|l| l.starts_with("u "))
        .expect("a u line");
    assert_eq!(
        user,
        "u liteimap - \"liteimap IMAP server\" /var/lib/liteimap /usr/sbin/nologin"
    );
    let config: toml::Table = read("dist/liteimap.toml").parse().unwrap();
    assert_eq!(config["db"].as_str(), Some("/var/lib/liteimap/mail.db"));
}
