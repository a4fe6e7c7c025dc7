//! `liteimap man`: the manual page (section 1) in roff, rendered from the argh definitions in
//! `cli` — the same doc comments `--help` prints, so no option is described twice. The Debian
//! package ships its output as `man liteimap` (`dist/debian/build` runs it).

use argh::{ArgsInfo, CommandInfoWithArgs, FlagInfo, FlagInfoKind, Optionality, PositionalInfo};

use crate::cli::Cli;

/// The whole page for this build's command line; `summary` is the one line of NAME (the
/// package description).
pub fn render(version: &str, summary: &str) -> String {
    page(&Cli::get_args_info(), version, summary)
}

/// The page of a command tree: NAME, SYNOPSIS, DESCRIPTION, global OPTIONS, one COMMANDS
/// subsection per leaf command (`user add`, `serve`, …), then the fixed FILES and ENVIRONMENT.
fn page(root: &CommandInfoWithArgs, version: &str, summary: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        ".TH LITEIMAP 1 \"\" {} \"User Commands\"\n",
        quoted(&format!("liteimap {version}"))
    ));
    out.push_str(".SH NAME\n");
    out.push_str(&format!("liteimap \\- {}\n", text(summary)));

    out.push_str(".SH SYNOPSIS\n");
    out.push_str(&synopsis(&[], root));
    out.push_str(".br\n\\fBliteimap \\-\\-version\\fR\n");

    out.push_str(".SH DESCRIPTION\n");
    out.push_str(&text(&one_paragraph(root.description)));
    out.push_str(
        "\nEvery command is listed under \\fBCOMMANDS\\fR with its options; global options go \
         before the command.\n",
    );

    out.push_str(".SH OPTIONS\n");
    options(&mut out, root.flags);
    // Handled before argh parses (main.rs), so argh's own definitions do not carry it.
    out.push_str(".TP\n\\fB\\-V\\fR, \\fB\\-\\-version\\fR\nprint the version and exit\n");

    out.push_str(".SH COMMANDS\n");
    for sub in &root.commands {
        command(&mut out, &[sub.name], &sub.command);
    }

    out.push_str(
        ".SH FILES\n\
         .TP\n\\fI/etc/liteimap/liteimap.toml\\fR\n\
         the configuration file read when \\fB\\-\\-config\\fR is not given (else \
         \\fI./liteimap.toml\\fR); \\fBliteimap config check\\fR checks it\n\
         .TP\n\\fI/var/lib/liteimap/mail.db\\fR\n\
         the database of the packaged service (users, folders, messages), with its \
         \\fI\\-wal\\fR and \\fI\\-shm\\fR files\n\
         .SH ENVIRONMENT\n\
         .TP\n\\fBRUST_LOG\\fR\n\
         log level on stderr: error, warn, info (the default), debug or trace\n\
         .SH SEE ALSO\n\
         \\fBsystemctl\\fR(1), \\fBjournalctl\\fR(1)\n",
    );
    out
}

/// One command's subsection, or its children's when it only groups them (`user`, `config`).
fn command(out: &mut String, path: &[&str], info: &CommandInfoWithArgs) {
    if !info.commands.is_empty() {
        for sub in &info.commands {
            let mut longer = path.to_vec();
            longer.push(sub.name);
            command(out, &longer, &sub.command);
        }
        return;
    }
    out.push_str(&format!(".SS {}\n", quoted(&path.join(" "))));
    out.push_str(&synopsis(path, info));
    out.push_str(".PP\n");
    out.push_str(&text(&one_paragraph(info.description)));
    out.push('\n');
    positionals(out, info.positionals);
    options(out, info.flags);
}

/// `liteimap [global options] import --user user [options] paths...`: the required options
/// by name, the optional ones (described below it) as `[options]`, then the positionals.
fn synopsis(path: &[&str], info: &CommandInfoWithArgs) -> String {
    let mut words = vec!["\\fBliteimap\\fR".to_string()];
    if !path.is_empty() {
        words.push("[\\fIglobal options\\fR]".into());
        words.extend(path.iter().map(|p| format!("\\fB{}\\fR", text(p))));
    }
    let mut optional = false;
    for flag in info.flags.iter().filter(|f| shown(f)) {
        if flag.optionality != Optionality::Required {
            optional = true;
            continue;
        }
        let mut word = format!("\\fB{}\\fR", text(flag.long));
        if let FlagInfoKind::Option { arg_name } = flag.kind {
            word.push_str(&format!(" \\fI{}\\fR", text(arg_name)));
        }
        words.push(word);
    }
    if optional {
        words.push(
            if path.is_empty() {
                "[\\fIglobal options\\fR]"
            } else {
                "[\\fIoptions\\fR]"
            }
            .into(),
        );
    }
    for pos in info.positionals.iter().filter(|p| !p.hidden) {
        let word = format!("\\fI{}\\fR", text(pos.name));
        words.push(match pos.optionality {
            Optionality::Required => word,
            Optionality::Optional => format!("[{word}]"),
            Optionality::Repeating | Optionality::Greedy => format!("{word}..."),
        });
    }
    if !info.commands.is_empty() {
        words.push("\\fIcommand\\fR".into());
    }
    format!("{}\n", words.join(" "))
}

/// Whether a flag belongs on the page: argh's implicit `--help` is said once, not per command.
fn shown(flag: &FlagInfo) -> bool {
    !flag.hidden && flag.long != "--help"
}

fn options(out: &mut String, flags: &[FlagInfo]) {
    for flag in flags.iter().filter(|f| shown(f)) {
        out.push_str(".TP\n");
        if let Some(c) = flag.short {
            out.push_str(&format!("\\fB\\-{}\\fR, ", text(&c.to_string())));
        }
        out.push_str(&format!("\\fB{}\\fR", text(flag.long)));
        if let FlagInfoKind::Option { arg_name } = flag.kind {
            out.push_str(&format!(" \\fI{}\\fR", text(arg_name)));
        }
        out.push('\n');
        out.push_str(&text(&one_paragraph(flag.description)));
        out.push('\n');
    }
}

fn positionals(out: &mut String, positionals: &[PositionalInfo]) {
    for pos in positionals.iter().filter(|p| !p.hidden) {
        out.push_str(&format!(".TP\n\\fI{}\\fR\n", text(pos.name)));
        out.push_str(&text(&one_paragraph(pos.description)));
        out.push('\n');
    }
}

/// A doc comment's lines as one paragraph (roff fills it again at the reader's width).
fn one_paragraph(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text made safe for roff: backslashes and minus signs escaped, non-ASCII characters as
/// `\[uXXXX]` (groff reads Latin-1 without preconv), and a leading `.` or `'` (which would
/// start a request) guarded with `\&`.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
        }
    }
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

/// A macro argument in double quotes (a `"` inside becomes `\(dq`).
fn quoted(s: &str) -> String {
    format!("\"{}\"", text(s).replace('"', "\\(dq"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_what_roff_would_interpret() {
        assert_eq!(text("--db"), "\\-\\-db");
        assert_eq!(text("a\\b"), "a\\eb");
        assert_eq!(text(".hidden"), "\\&.hidden");
        assert_eq!(text("'quoted'"), "\\&'quoted'");
        assert_eq!(text("in the middle. fine"), "in the middle. fine");
        assert_eq!(text("16×"), "16\\[u00D7]");
        assert_eq!(text("—"), "\\[u2014]");
        assert_eq!(quoted("say \"hi\""), "\"say \\(dqhi\\(dq\"");
    }

    #[test]
    fn doc_lines_become_one_paragraph() {
        assert_eq!(
            one_paragraph(" first line\n second   line \n"),
            "first line second line"
        );
    }

    #[test]
    fn a_leaf_command_gets_its_synopsis_options_and_positionals() {
        // argh's info types are 'static (what the derive makes): so are these.
        const FLAGS: &[FlagInfo] = &[
            FlagInfo {
                kind: FlagInfoKind::Switch,
                optionality: Optionality::Optional,
                long: "--help",
                short: None,
                description: "display usage information",
                hidden: false,
            },
            FlagInfo {
                kind: FlagInfoKind::Option { arg_name: "user" },
                optionality: Optionality::Required,
                long: "--user",
                short: None,
                description: "the user\n to log in as",
                hidden: false,
            },
            FlagInfo {
                kind: FlagInfoKind::Option { arg_name: "listen" },
                optionality: Optionality::Repeating,
                long: "--listen",
                short: Some('l'),
                description: "address",
                hidden: false,
            },
            FlagInfo {
                kind: FlagInfoKind::Switch,
                optionality: Optionality::Optional,
                long: "--secret",
                short: None,
                description: "not shown",
                hidden: true,
            },
        ];
        const POSITIONALS: &[PositionalInfo] = &[PositionalInfo {
            name: "paths",
            description: ".eml files",
            optionality: Optionality::Greedy,
            hidden: false,
        }];
        let info = CommandInfoWithArgs {
            name: "import",
            description: "Import mail.",
            flags: FLAGS,
            positionals: POSITIONALS,
            ..Default::default()
        };
        let mut out = String::new();
        command(&mut out, &["import"], &info);
        assert_eq!(
            out,
            ".SS \"import\"\n\
             \\fBliteimap\\fR [\\fIglobal options\\fR] \\fBimport\\fR \
             \\fB\\-\\-user\\fR \\fIuser\\fR [\\fIoptions\\fR] \\fIpaths\\fR...\n\
             .PP\nImport mail.\n\
             .TP\n\\fIpaths\\fR\n\\&.eml files\n\
             .TP\n\\fB\\-\\-user\\fR \\fIuser\\fR\nthe user to log in as\n\
             .TP\n\\fB\\-l\\fR, \\fB\\-\\-listen\\fR \\fIlisten\\fR\naddress\n"
        );
    }

    #[test]
    fn the_page_has_a_subsection_per_leaf_command() {
        let page = render("0.0.0", "an IMAP server");
        assert!(page.starts_with(".TH LITEIMAP 1 \"\" \"liteimap 0.0.0\""));
        assert!(page.contains(".SH NAME\nliteimap \\- an IMAP server\n"));
        assert!(page
            .contains(".SH SYNOPSIS\n\\fBliteimap\\fR [\\fIglobal options\\fR] \\fIcommand\\fR\n"));
        for leaf in ["serve", "user add", "user quota", "config check", "backup"] {
            assert!(page.contains(&format!(".SS \"{leaf}\"\n")), "{leaf}");
        }
        // A group (`user`) has no subsection of its own.
        assert!(!page.contains(".SS \"user\"\n"));
    }
}
