//! Property tests of the job file loader (issue 8: every parser of outside data): arbitrary text
//! and mutations of the real job files in `jobs/` never panic `job::parse`, and every error it
//! reports points at a real place: line >= 1 within the text, column >= 1 within that line (one
//! past its end at most), with the line's text for the caret display.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use mly_export::job::{self, JobErrors};
use proptest::prelude::*;

/// Text pieces that make TOML and job files interesting when spliced in anywhere.
const PIECES: &[&str] = &[
    "[[areas]]\n",
    "[[date_ranges]]\n",
    "[areas]\n",
    "bbox = [0, 0, 1, 1]\n",
    "closeto = [1e400, -91]\n",
    "radius = -0.0\n",
    "radius = nan\n",
    "start = 2016-03-28\n",
    "end = \"2016-02-30\"\n",
    "name = \"../x\"\n",
    "client_id = \"x\"\n",
    "usernames = [\"MLY|1|2\", 3]\n",
    "formats = []\n",
    "api = \"v4\"\n",
    "lookat = [0, 0]\n",
    "lookat_tolerance = 1e-320\n",
    "max_attempts = 0x7fffffffffffffff\n",
    "pano = \"yes\"\n",
    "x.y.z = { a = [[1], {b = 2}] }\n",
    "\"\"\"",
    "'''",
    "\"",
    "[",
    "]",
    "{",
    "=",
    ",",
    "#",
    "\\u00e9",
    "\\",
    "\r\n",
    "\n",
    "\t",
    "é",
    "東京",
    "🗺",
    "\u{feff}",
    "\0",
];

fn job_texts() -> &'static [String] {
    static TEXTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    TEXTS.get_or_init(read_job_texts)
}

fn read_job_texts() -> Vec<String> {
    common::job_files()
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// Parses `text`; on errors, checks that each one points into the text.
fn check(text: &str) -> Result<(), TestCaseError> {
    let Err(JobErrors { errors, .. }) = job::parse(Path::new("fuzz.toml"), text) else {
        return Ok(());
    };
    prop_assert!(!errors.is_empty(), "an error without problems");
    let lines: Vec<&str> = text.split('\n').collect();
    for e in &errors {
        prop_assert!(e.line >= 1, "line 0: {e:?}");
        prop_assert!(e.line <= lines.len(), "line past the end: {e:?}");
        let line = lines[e.line - 1];
        prop_assert!(e.column >= 1, "column 0: {e:?}");
        prop_assert!(
            e.column <= line.chars().count() + 1,
            "column {} past line {:?}: {e:?}",
            e.column,
            line
        );
        prop_assert!(!e.message.trim().is_empty(), "an empty message: {e:?}");
        // The caret display shows that line (without the `\r` of a `\r\n` ending).
        let shown = if e.line < lines.len() {
            line.strip_suffix('\r').unwrap_or(line)
        } else {
            line
        };
        prop_assert_eq!(e.source_line.as_str(), shown);
        // The display (what the user sees) never panics either.
        let _ = e.to_string();
    }
    Ok(())
}

/// One edit of a text, at a char boundary chosen by `at` (a fraction of the length).
#[derive(Debug, Clone)]
enum Edit {
    Insert(f64, String),
    Delete(f64, usize),
    DuplicateLine(f64),
    SwapLines(f64, f64),
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = prop_oneof![
        proptest::sample::select(PIECES).prop_map(str::to_owned),
        "\\PC{0,12}",
        any::<String>(),
    ];
    prop_oneof![
        (0.0..=1.0, piece).prop_map(|(at, s)| Edit::Insert(at, s)),
        (0.0..=1.0, 1usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..=1.0).prop_map(Edit::DuplicateLine),
        (0.0..=1.0, 0.0..=1.0).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn boundary(text: &str, at: f64) -> usize {
    let mut i = ((text.len() as f64) * at) as usize;
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edit: &Edit) -> String {
    match edit {
        Edit::Insert(at, s) => {
            let i = boundary(text, *at);
            format!("{}{s}{}", &text[..i], &text[i..])
        }
        Edit::Delete(at, n) => {
            let i = boundary(text, *at);
            let j = text[i..]
                .char_indices()
                .nth(*n)
                .map_or(text.len(), |(k, _)| i + k);
            format!("{}{}", &text[..i], &text[j..])
        }
        Edit::DuplicateLine(at) | Edit::SwapLines(at, _) => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let pick = |f: f64, n: usize| ((n as f64 * f) as usize).min(n - 1);
            let a = pick(*at, lines.len());
            if let Edit::SwapLines(_, b) = edit {
                let b = pick(*b, lines.len());
                lines.swap(a, b);
            } else {
                lines.insert(a, lines[a]);
            }
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in prop_oneof![
        any::<String>(),
        "\\PC{0,200}",
        "[a-z_\\[\\]=\"', .0-9\n-]{0,200}",
    ]) {
        check(&text)?;
    }

    #[test]
    fn mutated_job_files_never_panic(
        index in 0usize..64,
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let texts = job_texts();
        let mut text = texts[index % texts.len()].clone();
        for e in &edits {
            text = apply(&text, e);
        }
        check(&text)?;
    }

    #[test]
    fn spliced_pieces_never_panic(
        pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..30),
    ) {
        check(&format!("name = \"x\"\n{}", pieces.concat()))?;
    }
}

#[test]
fn every_shipped_job_file_parses_unmutated() {
    for text in job_texts() {
        job::parse(Path::new("job.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    }
}
