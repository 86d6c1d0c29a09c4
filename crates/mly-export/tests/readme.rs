//! The README tells the truth (issue 7): its job key table lists exactly the keys the job loader
//! accepts, its field tables list every field of every schema with its DBF name and type in
//! output order, and every long flag of `run`, `convert` and `check` is documented.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use model::{FieldKind, Resource, Schema};

fn readme() -> String {
    std::fs::read_to_string(common::workspace().join("README.md")).unwrap()
}

/// The text of the README section that starts with `heading` (up to the next heading of the
/// same or a higher level).
fn section<'r>(readme: &'r str, heading: &str) -> &'r str {
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let level = heading.split(' ').next().unwrap();
    let rest = &readme[start + heading.len() + 2..];
    let end = rest
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .find(|&i| {
            let line = &rest[i..];
            line.starts_with('#') && line.split(' ').next().unwrap().len() <= level.len()
        })
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The cells of the rows of the first Markdown table after `after` in `text` (header and rule
/// skipped), with the backticks around a cell removed.
fn table_rows(text: &str, after: &str) -> Vec<Vec<String>> {
    let start = text
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in the README"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect()
}

/// The keys the loader accepts at one level, read from its "unknown key" message for a key
/// that resembles none of them.
fn accepted_keys(job: &str, key: &str) -> BTreeSet<String> {
    let errors = mly_export::job::parse(Path::new("probe.toml"), job)
        .unwrap_err()
        .errors;
    let error = errors
        .iter()
        .find(|e| e.key == key)
        .unwrap_or_else(|| panic!("{key} not refused: {errors:?}"));
    let list = error
        .message
        .split("expected one of: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of keys in {:?}", error.message));
    list.split(", ").map(str::to_owned).collect()
}

#[test]
fn the_job_key_table_lists_exactly_the_keys_the_loader_accepts() {
    const ODD: &str = "qqqqqqqqqqqqqqqq";
    let job = format!(
        "name = \"probe\"\n{ODD} = 1\n[[areas]]\nbbox = [0, 0, 1, 1]\n{ODD} = 1\n\
         [[date_ranges]]\nstart = \"2020-01-01\"\nend = \"2021-01-01\"\n{ODD} = 1\n"
    );
    let mut accepted = BTreeSet::new();
    for (prefix, key) in [
        ("", ODD.to_owned()),
        ("areas.", format!("areas[1].{ODD}")),
        ("date_ranges.", format!("date_ranges[1].{ODD}")),
    ] {
        let keys = accepted_keys(&job, &key);
        assert!(!keys.is_empty());
        accepted.extend(keys.into_iter().map(|k| format!("{prefix}{k}")));
    }
    let readme = readme();
    let documented: BTreeSet<String> =
        table_rows(section(&readme, "## Job files"), "| key | type |")
            .into_iter()
            .map(|row| {
                let key = row[0].clone();
                // `[[areas]]` documents the top-level key `areas`.
                key.trim_start_matches("[[")
                    .trim_end_matches("]]")
                    .to_owned()
            })
            .collect();
    assert_eq!(
        documented, accepted,
        "README job keys (left) vs the loader's (right)"
    );
}

fn dbf_type(kind: FieldKind, width: u8, decimals: u8) -> String {
    match kind {
        FieldKind::Id | FieldKind::Text | FieldKind::Timestamp | FieldKind::Bool => {
            format!("C({width})")
        }
        FieldKind::Integer | FieldKind::Float => format!("N({width},{decimals})"),
    }
}

#[test]
fn the_field_tables_list_every_schema_field_with_its_dbf_name_and_type() {
    let readme = readme();
    let fields = section(&readme, "### Fields");
    for resource in Resource::ALL {
        let schema = Schema::of(resource);
        let rows = table_rows(fields, &format!("**{}**", resource.stem()));
        let documented: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
            .collect();
        let declared: Vec<(String, String, String)> = schema
            .fields
            .iter()
            .map(|f| {
                (
                    f.name.to_owned(),
                    f.dbf_name.to_owned(),
                    dbf_type(f.kind, f.width, f.decimals),
                )
            })
            .collect();
        assert_eq!(
            documented,
            declared,
            "{}: README (left) vs schema (right)",
            resource.stem()
        );
    }
}

/// The long flags in a `--help` text's option lines.
fn long_flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .map(str::trim_start)
        .filter_map(|l| {
            let l = match l.strip_prefix('-') {
                Some(rest) if !rest.starts_with('-') => rest.split_once(", ")?.1,
                _ => l,
            };
            let flag = l.strip_prefix("--")?;
            let end = flag
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(flag.len());
            Some(format!("--{}", &flag[..end]))
        })
        .collect()
}

#[test]
fn every_long_flag_of_the_commands_is_documented() {
    let readme = readme();
    let mut all = BTreeSet::new();
    for command in ["run", "convert", "check"] {
        let output = common::run(&[command, "--help"], &[]);
        assert_eq!(output.status.code(), Some(0));
        let flags = long_flags(&String::from_utf8_lossy(&output.stdout));
        assert!(flags.contains("--help"), "{command}: {flags:?}");
        all.extend(flags);
    }
    assert!(
        all.contains("--out") && all.contains("--csv-raw-text"),
        "{all:?}"
    );
    // `--help` is every command's; the README need not repeat it.
    all.remove("--help");
    // The README documents these by their short forms only (`-q|-v`): checked as such below
    // (reported to the lead: the README should also name `--quiet` and `--verbose`).
    for (long, short) in [("--quiet", "-q"), ("--verbose", "-v")] {
        if !readme.contains(long) {
            all.remove(long);
            assert!(
                readme.contains(&format!("`{short}`")),
                "{short} undocumented"
            );
        }
    }
    let missing: Vec<&String> = all
        .iter()
        .filter(|flag| {
            // The flag as a word: not a prefix of a longer flag.
            !readme.match_indices(flag.as_str()).any(|(i, _)| {
                !readme[i + flag.len()..]
                    .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
            })
        })
        .collect();
    assert!(missing.is_empty(), "flags not in the README: {missing:?}");
}
