#![allow(clippy::unwrap_used)]
//! ExportDir: atomic replacement, refusals, cleanup.

use std::fs;
use std::path::Path;

use write::{ExportDir, WriteError, read_previous_manifest};

fn manifest(run: u32) -> serde_json::Value {
    serde_json::json!({ "run": run })
}

fn export_with(out: &Path, run: u32, file: &str) -> std::path::PathBuf {
    let export = ExportDir::create(out, "job").unwrap();
    fs::write(export.path().join(file), format!("run {run}")).unwrap();
    export.commit(&manifest(run)).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn commit_creates_then_replaces_and_leaves_other_files_alone() {
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("notes.txt"), "mine").unwrap();
    fs::create_dir(out.path().join("other")).unwrap();

    let first = export_with(out.path(), 1, "old.csv");
    assert_eq!(first, out.path().join("job"));
    assert_eq!(names(&first), ["manifest.json", "old.csv"]);
    let text = fs::read_to_string(first.join("manifest.json")).unwrap();
    assert_eq!(text, "{\n  \"run\": 1\n}\n");

    let second = export_with(out.path(), 2, "new.csv");
    assert_eq!(names(&second), ["manifest.json", "new.csv"]);
    assert_eq!(
        read_previous_manifest(out.path(), "job").unwrap(),
        Some(manifest(2))
    );
    assert_eq!(names(out.path()), ["job", "notes.txt", "other"]);
    assert_eq!(
        fs::read_to_string(out.path().join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn refuses_what_is_not_an_export() {
    let out = tempfile::tempdir().unwrap();
    fs::create_dir(out.path().join("job")).unwrap();
    fs::write(out.path().join("job/precious.txt"), "x").unwrap();
    let error = ExportDir::create(out.path(), "job").unwrap_err();
    assert!(
        matches!(error, WriteError::NotAnExport { ref path } if path == &out.path().join("job"))
    );

    fs::write(out.path().join("file"), "x").unwrap();
    assert!(matches!(
        ExportDir::create(out.path(), "file"),
        Err(WriteError::NotAnExport { .. })
    ));

    // A symlink to a real export is still refused: we replace folders, never links.
    let target = tempfile::tempdir().unwrap();
    fs::write(target.path().join("manifest.json"), "{}").unwrap();
    std::os::unix::fs::symlink(target.path(), out.path().join("link")).unwrap();
    assert!(matches!(
        ExportDir::create(out.path(), "link"),
        Err(WriteError::NotAnExport { .. })
    ));
    assert_eq!(names(target.path()), ["manifest.json"]);
}

#[test]
fn refuses_bad_names() {
    let out = tempfile::tempdir().unwrap();
    for name in ["", "..", "a/b", "a.b", "/abs", &"x".repeat(65), "ä"] {
        assert!(
            matches!(
                ExportDir::create(out.path(), name),
                Err(WriteError::BadName { .. })
            ),
            "{name:?}"
        );
    }
    assert!(ExportDir::create(out.path(), &"x".repeat(64)).is_ok());
    assert!(
        names(out.path()).is_empty(),
        "dropped exports leave nothing behind"
    );
}

#[test]
fn drop_without_commit_deletes_the_temporary_folder_only() {
    let out = tempfile::tempdir().unwrap();
    export_with(out.path(), 1, "a.csv");
    let export = ExportDir::create(out.path(), "job").unwrap();
    fs::write(export.path().join("b.csv"), "partial").unwrap();
    assert_eq!(names(out.path()).len(), 2);
    drop(export);
    assert_eq!(names(out.path()), ["job"]);
    assert_eq!(names(&out.path().join("job")), ["a.csv", "manifest.json"]);
}

#[test]
fn leftovers_of_killed_runs_are_cleaned_or_restored() {
    let out = tempfile::tempdir().unwrap();
    // A pid above Linux's pid_max: that process is surely gone.
    let dead = "4194305-1";
    fs::create_dir(out.path().join(format!(".job.partial-{dead}"))).unwrap();
    fs::write(out.path().join(format!(".job.partial-{dead}/x.csv")), "x").unwrap();
    // Killed between moving the old export aside and moving the new one in.
    let aside = out.path().join(format!(".job.old-{dead}"));
    fs::create_dir(&aside).unwrap();
    fs::write(aside.join("manifest.json"), "{\"run\": 0}").unwrap();
    // Not ours: another job's partial folder and a look-alike file.
    fs::create_dir(out.path().join(format!(".jobs.partial-{dead}"))).unwrap();
    fs::write(out.path().join(".job.partial-notes"), "keep").unwrap();

    let export = ExportDir::create(out.path(), "job").unwrap();
    let mut expected = vec![
        ".job.partial-notes".to_owned(),
        format!(".jobs.partial-{dead}"),
        "job".to_owned(),
        export
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned(),
    ];
    expected.sort();
    assert_eq!(names(out.path()), expected);
    assert_eq!(
        read_previous_manifest(out.path(), "job").unwrap(),
        Some(serde_json::json!({"run": 0}))
    );
}
