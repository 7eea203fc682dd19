//! Each file in tests/conversations is a transcript: `> ` lines are what people write
//! (the console protocol), the other lines what the bot must answer, in order. A line
//! `=== restart` stops Plaza and starts it again on the same database. `#` lines are
//! comments. `PLAZA_BLESS=1` rewrites the files with what the bot answers now (read the
//! diff before committing it).

use std::path::Path;

use crate::{console_at, jun_config, repo};

struct Transcript {
    header: Vec<String>,
    /// Each run: its input lines and the whole expected output.
    segments: Vec<(Vec<String>, Vec<String>)>,
}

fn parse(text: &str) -> Transcript {
    let mut header = Vec::new();
    let mut segments = vec![(Vec::new(), Vec::new())];
    let mut in_header = true;
    for line in text.lines() {
        if in_header && (line.starts_with('#') || line.trim().is_empty()) {
            if line.starts_with('#') {
                header.push(line.to_owned());
            }
            continue;
        }
        in_header = false;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.trim() == "=== restart" {
            segments.push((Vec::new(), Vec::new()));
            continue;
        }
        let seg = segments.last_mut().expect("a segment");
        if let Some(input) = line.strip_prefix("> ") {
            seg.0.push(input.to_owned());
        }
        seg.1.push(line.trim_end().to_owned());
    }
    Transcript { header, segments }
}

fn run(name: &str) {
    let path = repo().join("tests/conversations").join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).expect("read transcript");
    let t = parse(&text);
    // `# town: PATH` in the header runs the transcript on another town's config.
    let config = t
        .header
        .iter()
        .find_map(|l| l.strip_prefix("# town:"))
        .map(|p| repo().join(p.trim()))
        .unwrap_or_else(jun_config);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("plaza.db");
    let mut actual_all = Vec::new();
    let mut problems = Vec::new();
    for (i, (input, expected)) in t.segments.iter().enumerate() {
        let mut stdin = input.join("\n");
        stdin.push('\n');
        // Every run starts at a fixed time (a Monday, 09:00 UTC; an hour later for each
        // restart): what depends on the day or the hour (a morning digest, "until 14:00")
        // answers the same whenever the tests run.
        let start = format!("2030-01-07T{:02}:00:00Z", 9 + i);
        let out = console_at(&config, &db, stdin.as_bytes(), Some(&start));
        let actual: Vec<String> = out.lines().map(|l| normalise_dates(l.trim_end())).collect();
        if &actual != expected {
            problems.push(diff(i, expected, &actual));
        }
        actual_all.push(actual);
    }
    if std::env::var_os("PLAZA_BLESS").is_some() {
        bless(&path, &t.header, &actual_all);
        return;
    }
    assert!(problems.is_empty(), "{}:\n{}", path.display(), problems.join("\n"));
}

/// Absolute dates depend on when the test runs: "2026-11-27 08:30 UTC" → "DATE".
fn normalise_dates(line: &str) -> String {
    let b = line.as_bytes();
    let shape = b"0000-00-00 00:00 UTC";
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let fits = b.len() >= i + shape.len()
            && shape.iter().zip(&b[i..]).all(|(s, c)| if *s == b'0' { c.is_ascii_digit() } else { s == c });
        if fits {
            out.push_str("DATE");
            i += shape.len();
        } else {
            let ch = line[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn diff(segment: usize, expected: &[String], actual: &[String]) -> String {
    let first = expected.iter().zip(actual).position(|(e, a)| e != a).unwrap_or(expected.len().min(actual.len()));
    let from = first.saturating_sub(3);
    let mut s = format!("run {} differs from line {} of its transcript:\n", segment + 1, first + 1);
    for (k, l) in expected.iter().enumerate().skip(from).take(8) {
        s.push_str(&format!("  expected {:>3}: {l}\n", k + 1));
    }
    for (k, l) in actual.iter().enumerate().skip(from).take(8) {
        s.push_str(&format!("  actual   {:>3}: {l}\n", k + 1));
    }
    s
}

fn bless(path: &Path, header: &[String], runs: &[Vec<String>]) {
    let mut s = header.join("\n");
    s.push_str("\n\n");
    for (i, r) in runs.iter().enumerate() {
        if i > 0 {
            s.push_str("=== restart\n");
        }
        for l in r {
            s.push_str(l);
            s.push('\n');
        }
    }
    std::fs::write(path, s).expect("write transcript");
}

macro_rules! conversations {
    ($($test:ident => $file:literal),* $(,)?) => {
        $(#[test] fn $test() { run($file) })*

        /// Every transcript in the folder is run by a test above.
        #[test]
        fn every_transcript_is_run() {
            let listed = [$($file),*];
            for entry in std::fs::read_dir(repo().join("tests/conversations")).expect("read dir") {
                let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".txt") {
                    assert!(listed.contains(&stem), "tests/conversations/{name} is not listed in conversations.rs");
                }
            }
        }
    };
}

conversations! {
    streetlight_es => "01-streetlight-es",
    streetlight_en => "02-streetlight-en",
    suspicious_car_stays_private => "03-suspicious-car",
    unclear_text_and_where => "04-unclear-and-where",
    neighbour_reply_reaches_reporter => "05-neighbour-reply",
    duplicates_are_linked => "06-duplicates",
    permissions => "07-permissions",
    persistence_across_runs => "08-persistence",
    lost_and_found => "09-lost-and-found",
    bad_input_lines => "10-bad-input",
    privacy_es => "11-privacy-es",
    privacy_en => "12-privacy-en",
    data_rights_es => "13-data-rights-es",
    data_rights_en => "14-data-rights-en",
    classifier_learns_from_the_town => "15-learning-en",
    residents_es => "16-residents-es",
    residents_en => "17-residents-en",
    arabic_by_dropping_files => "18-arabic",
    residents_jun_en => "19-residents-jun-en",
    small_faults => "20-small-faults-en",
    flood => "21-flood-en",
    fixed_es => "22-fixed-es",
    fixed_en => "23-fixed-en",
    deadlines_es => "24-deadlines-es",
    deadlines_en => "25-deadlines-en",
    districts_es => "26-districts-es",
    districts_en => "27-districts-en",
    incidents_es => "28-incidents-es",
    incidents_en => "29-incidents-en",
    digest_es => "30-digest-es",
    digest_en => "31-digest-en",
    notices_es => "32-notices-es",
    notices_en => "33-notices-en",
    written_answers_en => "34-written-answers-en",
}
