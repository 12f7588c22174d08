//! Torn tails: the last line of a line-per-op history cut off by a crash is left out and
//! reported; the same cut anywhere else, or a last line that is wrong rather than short, is an
//! error naming its line.

use histories::{load, parse_reader, Format, Loaded};

use crate::common::fixture;

fn parse(text: &str, format: Format) -> Result<Loaded, histories::Error> {
    parse_reader(text.as_bytes(), "t", format)
}

#[test]
fn the_truncated_fixture_is_a_torn_tail() {
    let l = load(&fixture("garbled-truncated.jsonl"), Format::Auto).unwrap();
    let torn = l.stats.torn_last_line.expect("torn");
    assert_eq!(torn.line, 3);
    assert_eq!(torn.reason, "EOF while parsing a string at column 36");
    assert_eq!(l.history.ops.len(), 1, "the write before it");
    assert_eq!(l.stats.lines, 3);
    assert_eq!(l.stats.events, 2);

    let e = load(&fixture("garbled-truncated-middle.jsonl"), Format::Auto).unwrap_err();
    assert!(e.to_string().contains(":3: truncated JSON"), "{e}");

    let l = load(&fixture("knossos-torn-last-line.edn"), Format::Auto).unwrap();
    assert_eq!(l.format, Format::Edn);
    assert_eq!(l.stats.torn_last_line.expect("torn").line, 6);
    assert_eq!(l.history.ops.len(), 2);
    assert_eq!(l.stats.lines, 6);
}

/// Every proper beginning of the last line of each line-per-op fixture is a torn tail when no
/// newline follows it; with a newline and another line after it, it is an error.
#[test]
fn every_cut_of_the_last_line_is_torn_and_every_cut_in_the_middle_an_error() {
    let cases = [
        ("jsonl-kv-valid.jsonl", Format::Jsonl),
        ("jsonl-cas-register-invalid.jsonl", Format::Jsonl),
        ("knossos-cas-register-invalid.edn", Format::Edn),
        ("porcupine-append-kv-valid.txt", Format::Porcupine),
    ];
    for (name, format) in cases {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let last = lines.len() - 1;
        let head: String = lines[..last].iter().map(|l| format!("{l}\n")).collect();
        let whole = parse(&head, format).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(whole.stats.torn_last_line.is_none());
        let line = lines[last];
        for cut in 1..line.len() {
            if !line.is_char_boundary(cut) || line[..cut].trim().is_empty() {
                continue;
            }
            let torn = format!("{head}{}", &line[..cut]);
            let l = parse(&torn, format)
                .unwrap_or_else(|e| panic!("{name} cut at {cut}: {e}\n{}", &line[..cut]));
            let t = l
                .stats
                .torn_last_line
                .unwrap_or_else(|| panic!("{name} cut at {cut}: not torn"));
            assert_eq!(t.line, last as u64 + 1, "{name} cut at {cut}");
            assert_eq!(l.history.ops.len(), whole.history.ops.len(), "{name}");
            assert_eq!(l.stats.events, whole.stats.events, "{name}");

            // The same cut followed by a newline and a complete line: an error, not a tear.
            let middle = format!("{torn}\n{}\n", lines[0]);
            let e = parse(&middle, format)
                .err()
                .unwrap_or_else(|| panic!("{name} cut at {cut} in the middle: no error"));
            assert!(e.line > last as u64, "{name} cut at {cut}: {e}");
            if format == Format::Jsonl {
                assert_eq!(e.line, last as u64 + 1, "{e}");
                assert!(e.message.contains("truncated JSON"), "{e}");
            }
        }
    }
}

#[test]
fn a_last_line_that_is_wrong_rather_than_short_is_an_error() {
    let ok = "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n";
    // A wrong token: the input does not end inside it.
    let e = parse(
        &format!("{ok}{{\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"value\":nul}}"),
        Format::Jsonl,
    )
    .unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    // Not an object at all.
    let e = parse(&format!("{ok}garbage"), Format::Jsonl).unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    // Cut, but a newline follows it: the writer finished that line.
    let e = parse(
        &format!("{ok}{{\"type\":\"ok\",\"process\":0,\"f\":\"re\n"),
        Format::Jsonl,
    )
    .unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("truncated JSON"), "{e}");
    // A whole line that breaks a rule of the format is no tear either.
    let e = parse(
        &format!("{ok}{{\"type\":\"ok\",\"process\":7,\"f\":\"read\"}}"),
        Format::Jsonl,
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("type"), "{e}");

    let edn = "{:process 0, :type :invoke, :f :read, :value nil}\n";
    let e = parse(&format!("{edn}{{:process 0, :type}}"), Format::Edn).unwrap_err();
    assert!(e.message.contains("odd number"), "{e}");
    let e = parse(&format!("{edn}{{:process 0,\n :type :ok"), Format::Edn).unwrap_err();
    assert!(e.message.contains("opened at line 2"), "{e}");
    let e = parse(&format!("{edn}{{:process 0, :type :ok\n"), Format::Edn).unwrap_err();
    assert!(e.message.contains("not closed"), "{e}");
}

#[test]
fn a_cut_off_vector_is_an_error_that_says_so() {
    let text =
        "[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f :re";
    let e = parse(text, Format::Edn).unwrap_err();
    assert!(e.message.contains("cut-off vector"), "{e}");
    let e = parse("[{:process 0, :type :invoke, :f :read}\n", Format::Edn).unwrap_err();
    assert!(e.message.contains("not closed"), "{e}");
}

#[test]
fn a_torn_completion_leaves_its_invoke_open() {
    let text = "{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}\n{\"type\":\"ok\",\"process\":0,\"f\":\"wr";
    let l = parse(text, Format::Jsonl).unwrap();
    assert_eq!(l.stats.torn_last_line.map(|t| t.line), Some(2));
    assert_eq!(l.stats.open_at_end, 1);
    assert_eq!(l.history.ops[0].outcome, histories::Outcome::Info);
}

#[test]
fn empty_inputs_load_with_no_operations_and_count_their_lines() {
    let header = "{\"faultline\":1,\"model\":\"cas-register\"}\n";
    for (text, format, lines, skipped) in [
        ("", Format::Auto, 0, 0),
        (header, Format::Auto, 1, 0),
        ("[]", Format::Auto, 1, 0),
        ("[]\n", Format::Edn, 1, 0),
        (
            "INFO  jepsen.core - Running test\nINFO  jepsen.util - no op here\n",
            Format::Auto,
            2,
            2,
        ),
    ] {
        let l = parse(text, format).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert!(l.history.ops.is_empty(), "{text:?}");
        assert_eq!(
            (l.stats.lines, l.stats.skipped_lines),
            (lines, skipped),
            "{text:?}"
        );
    }
}
