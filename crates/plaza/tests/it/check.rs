//! `plaza check`: a good config passes; each problem is reported with its key and line.

use std::path::Path;
use std::process::Command;

use crate::{jun_config, repo};

fn check(config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_plaza")).args(["check", "--config"]).arg(config).output().expect("run");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A copy of Jun's config with `edit` applied, beside a copy of its locales.
fn broken(edit: impl Fn(&str) -> String, locale_edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(jun_config()).expect("read jun.toml");
    std::fs::write(dir.path().join("town.toml"), edit(&text)).expect("write");
    std::fs::create_dir(dir.path().join("locales")).expect("mkdir");
    for l in ["es", "en", "ar"] {
        let t = std::fs::read_to_string(repo().join(format!("config/locales/{l}.ftl"))).expect("read ftl");
        let t = if l == "en" { locale_edit(&t) } else { t };
        std::fs::write(dir.path().join(format!("locales/{l}.ftl")), t).expect("write ftl");
    }
    dir
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("needle present") + 1
}

#[test]
fn jun_config_is_valid() {
    let (ok, out) = check(&jun_config());
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "OK — Jun: 6 categories, 6 crews, languages es, en, ar, plugins: announcements, deadlines, digest, incidents, lost-and-found, channels: console"
        ),
        "{out}"
    );
}

#[test]
fn errors_name_key_and_line() {
    let jun = std::fs::read_to_string(jun_config()).expect("read");
    let dir = broken(
        |t| {
            t.replacen("crew = \"water\"", "crew = \"plumbers\"", 1).replacen(
                "default_language = \"es\"",
                "default_language = \"fr\"",
                1,
            )
        },
        |t| t.to_owned(),
    );
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok, "{out}");
    let crew_line = line_of(&jun, "crew = \"water\"");
    assert!(out.contains(&format!("line {crew_line}: category[1].crew: unknown crew `plumbers`")), "{out}");
    let lang_line = line_of(&jun, "default_language = \"es\"");
    assert!(out.contains(&format!("line {lang_line}: town.default_language: `fr` is not in town.languages")), "{out}");
    assert!(out.contains("2 problems found"), "{out}");
}

#[test]
fn syntax_and_type_errors_name_the_line() {
    let jun = std::fs::read_to_string(jun_config()).expect("read");
    let dir = broken(|t| t.replacen("visibility = \"private\"", "visibility = \"secret\"", 1), |t| t.to_owned());
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok);
    let line = line_of(&jun, "visibility = \"private\"");
    assert!(out.contains(&format!("line {line}: category[5].visibility: unknown variant `secret`")), "{out}");

    let dir = broken(|t| t.replacen("name = \"Jun\"", "name = \"Jun", 1), |t| t.to_owned());
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok);
    assert!(out.contains(&format!("line {}:", line_of(&jun, "name = \"Jun\""))), "{out}");
}

#[test]
fn missing_locale_message_and_unknown_plugin_are_reported() {
    let dir = broken(
        |t| t.to_owned(),
        |t| t.lines().filter(|l| !l.starts_with("ack-created")).collect::<Vec<_>>().join("\n"),
    );
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok);
    assert!(out.contains("locales/en.ftl: missing message `ack-created`"), "{out}");

    let dir = broken(|t| t.replace("[plugins.lost-and-found]", "[plugins.lost-and-fund]"), |t| t.to_owned());
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok);
    assert!(
        out.contains(
            "plugins.lost-and-fund: unknown plugin (known: lost-and-found, deadlines, incidents, digest, announcements)"
        ),
        "{out}"
    );
}

#[test]
fn telegram_section_problems_name_key_and_line() {
    let dir = broken(
        |t| {
            format!(
                "{t}\n[telegram]\ntoken_env = \"PLAZA_TG\"\n[telegram.rooms]\nelectricians = 12345\npublic = \"grupo\"\nparking = -100\n"
            )
        },
        |t| t.to_owned(),
    );
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok, "{out}");
    let text = std::fs::read_to_string(dir.path().join("town.toml")).expect("read");
    let line = |needle: &str| text.lines().position(|l| l.starts_with(needle)).expect("needle") + 1;
    assert!(
        out.contains(&format!(
            "line {}: telegram.rooms.electricians: 12345 is not a group chat id",
            line("electricians = 12345")
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "line {}: telegram.rooms.public: `\"grupo\"` is not a chat id",
            line("public = \"grupo\"")
        )),
        "{out}"
    );
    assert!(out.contains(&format!("line {}: telegram.rooms.parking: unknown room", line("parking = -100"))), "{out}");
    assert!(out.contains("telegram.rooms: no chat id for the room `water`"), "{out}");
}

/// What a town gets wrong that the parser alone would not see: each reported with its
/// key and line.
#[test]
fn people_keywords_radii_and_plugins_are_checked() {
    let jun = std::fs::read_to_string(jun_config()).expect("read");
    let dir = broken(
        |t| {
            t.replacen("members = [\"console:pedro\"]", "members = []", 1)
                .replacen("members = [\"console:marta\"]", "members = [\"telegram:abc\", \"matrix:nobody\"]", 1)
                .replacen("members = [\"console:juan\"]", "members = [\"console:juan\", \"console:juan\"]", 1)
                .replacen("duplicate_radius_m = 60", "duplicate_radius_m = -5", 1)
                .replacen("\"perro\", \"perra\",", "\"bache\", \"perro\", \"perra\",", 1)
        },
        |t| t.to_owned(),
    );
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok, "{out}");
    let line = |needle: &str| line_of(&jun, needle);
    for expected in [
        format!("line {}: crew[1].members: crew `water` has no members", line("members = [\"console:pedro\"]")),
        format!(
            "line {}: crew[2].members[0]: `telegram:abc`: a Telegram user id is a number",
            line("members = [\"console:marta\"]")
        ),
        "crew[2].members[1]: `matrix:nobody`: a Matrix user id looks like matrix:@name:server.org".to_owned(),
        "crew[3].members[1]: `console:juan` is listed twice".to_owned(),
        format!("line {}: engine.duplicate_radius_m: must be a distance in metres", line("duplicate_radius_m = 60")),
        "category[4].keywords.es: the keyword `bache` is also a keyword of category `roads`".to_owned(),
    ] {
        assert!(out.contains(&expected), "missing «{expected}» in:\n{out}");
    }

    // A plugin checks its own settings: lost-and-found would quote one resident's report
    // to another, so never on a private category.
    let dir = broken(|t| t.replacen("category = \"animals\"", "category = \"security\"", 1), |t| t.to_owned());
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok, "{out}");
    let line = line_of(&jun, "category = \"animals\"");
    assert!(
        out.contains(&format!("line {line}: plugins.lost-and-found.category: `security` is a private category")),
        "{out}"
    );

    // Deadlines: an unknown category, hours that are not hours, a key it does not know.
    let dir = broken(
        |t| {
            t.replacen("[plugins.deadlines.category.water]", "[plugins.deadlines.category.agua]", 1)
                .replacen("acknowledge_hours = 24", "acknowledge_hours = 0", 1)
                .replacen("resolve_hours = 168", "resolve_hours = 168\nremind_twice = true", 1)
        },
        |t| t.to_owned(),
    );
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok, "{out}");
    for expected in [
        format!(
            "line {}: plugins.deadlines.category.agua: unknown category `agua`",
            // One line further down: `remind_twice` was added above it.
            line_of(&jun, "[plugins.deadlines.category.water]") + 1
        ),
        format!(
            "line {}: plugins.deadlines.acknowledge_hours: must be a whole number of hours, 1 to 8760",
            line_of(&jun, "acknowledge_hours = 24")
        ),
        "plugins.deadlines.remind_twice: unknown key".to_owned(),
    ] {
        assert!(out.contains(&expected), "missing «{expected}» in:\n{out}");
    }
    // A crew's credit for someone who is not in it.
    let dir = broken(
        |t| t.replacen("credit = { \"console:luis\" = \"Luis\" }", "credit = { \"console:pedro\" = \"Pedro\" }", 1),
        |t| t.to_owned(),
    );
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok, "{out}");
    let expected = format!(
        "line {}: crew[0].credit: `console:pedro` is not a member of crew `electricians`",
        line_of(&jun, "credit = { \"console:luis\"")
    );
    assert!(out.contains(&expected), "missing «{expected}» in:\n{out}");
}

#[test]
fn a_key_set_twice_is_named() {
    let jun = std::fs::read_to_string(jun_config()).expect("read");
    let dir = broken(
        |t| t.replacen("max_message_chars = 4000", "max_message_chars = 4000\nmax_message_chars = 10", 1),
        |t| t.to_owned(),
    );
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok, "{out}");
    let line = line_of(&jun, "max_message_chars = 4000") + 1;
    assert!(
        out.contains(&format!("line {line}: engine.max_message_chars: `engine.max_message_chars` is set twice")),
        "{out}"
    );
}

/// `plaza classify` shows what the dispatchers taught the classifier, on the database a
/// town runs on.
#[test]
fn classify_shows_what_was_learned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("plaza.db");
    let town = repo().join("tests/towns/kilbride.toml");
    let mut input = String::new();
    for i in 1..=4 {
        input.push_str(&format!(
            "r{i}: Graffiti sprayed on the wall of Park Road {i}\nclerk in triage: assign #{i} bins\n"
        ));
    }
    crate::console(&town, &db, input.as_bytes());
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_plaza"))
            .args(["classify", "--config"])
            .arg(&town)
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&["graffiti on the bus shelter"]);
    assert!(out.contains("learned from 4 assignments"), "{out}");
    assert!(out.contains("keywords: Unknown"), "{out}");
    assert!(out.contains("learned:  bins ("), "{out}");
    let out = run(&[]);
    assert!(out.lines().any(|l| l.starts_with("bins:") && l.contains("graffiti (4)")), "{out}");
}

/// A district's problems are reported with the key and the line.
#[test]
fn districts_are_checked() {
    let dir = broken(
        |t| {
            t.replace(
                "streets = [\"calle Real\", \"calle Mayor\", \"calle San",
                "streets = [\"Real\", \"calle Mayor\", \"calle San",
            )
            .replace(
                "polygon = [[37.1450, -3.5000], [37.1500, -3.5000], [37.1500, -3.4900], [37.1450, -3.4900]]",
                "polygon = [[37.1450, -3.5000], [97.1500, -3.5000]]",
            )
        },
        |l| l.to_owned(),
    );
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok, "{out}");
    let jun = std::fs::read_to_string(dir.path().join("town.toml")).expect("config");
    let streets = line_of(&jun, "streets = [\"Real\"");
    assert!(
        out.contains(&format!("line {streets}: district[0].streets[0]: `Real` does not read as a street")),
        "{out}"
    );
    let poly = line_of(&jun, "polygon = [[37.1450, -3.5000], [97.1500");
    assert!(out.contains(&format!("line {poly}: district[1].polygon: an area needs at least three corners")), "{out}");
    assert!(out.contains(&format!("line {poly}: district[1].polygon: corner 2 is not [latitude, longitude]")), "{out}");
}

/// A city's districts (issue 12): their triage rooms, dispatchers and crews, a street in
/// two districts, and a GeoJSON area that is not one, each named with its key and line.
#[test]
fn city_districts_are_checked() {
    let town = repo().join("tests/towns/villaluz.toml");
    let (ok, out) = check(&town);
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&town).expect("config");
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, body: &str| std::fs::write(dir.path().join(name), body).expect("write");
    write("puerto.geojson", r#"{"type": "LineString", "coordinates": [[-2.47, 36.83], [-2.46, 36.83]]}"#);
    let broken = text
        .replace(
            "locales = \"../../config/locales\"",
            &format!("locales = {:?}", repo().join("config/locales").display().to_string()),
        )
        .replace("geojson = \"villaluz-puerto.geojson\"", "geojson = \"puerto.geojson\"")
        .replace("triage = \"mesa-puerto\"", "triage = \"limpieza\"")
        .replace("crews = { alumbrado = \"luz-puerto\" }", "crews = { alumbrado = \"luz-norte\", agua = \"limpieza\" }")
        .replace("streets = [\"paseo Marítimo\"", "streets = [\"calle Ancha\", \"paseo Marítimo\"");
    write("town.toml", &broken);
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok, "{out}");
    let line = |needle: &str| line_of(&broken, needle);
    for expected in [
        format!("line {}: district[1].triage: `limpieza` is already a room", line("triage = \"limpieza\"")),
        format!("line {}: district[1].crews.alumbrado: unknown crew `luz-norte`", line("crews = {")),
        format!("line {}: district[1].crews.agua: unknown category `agua`", line("crews = {")),
        format!(
            "line {}: district[1].streets[0]: `calle Ancha` is also in district `centro`",
            line("streets = [\"calle Ancha\", \"paseo")
        ),
    ] {
        assert!(out.contains(&expected), "missing «{expected}» in:\n{out}");
    }
    // The GeoJSON file is read once the rest is right.
    let fixed = broken
        .replace("triage = \"limpieza\"", "triage = \"mesa-puerto\"")
        .replace("crews = { alumbrado = \"luz-norte\", agua = \"limpieza\" }", "crews = { alumbrado = \"luz-puerto\" }")
        .replace("streets = [\"calle Ancha\", \"paseo Marítimo\"", "streets = [\"paseo Marítimo\"");
    write("town.toml", &fixed);
    let (ok, out) = check(&dir.path().join("town.toml"));
    assert!(!ok, "{out}");
    let expected = format!(
        "line {}: district[1].geojson: `puerto.geojson`: a `LineString` is not an area: use a Polygon or a MultiPolygon",
        line_of(&fixed, "geojson = ")
    );
    assert!(out.contains(&expected), "missing «{expected}» in:\n{out}");
}
