//! Format and error cases parsed from memory.

use std::path::Path;

use harness_data::{CellLocation, DataError, EvalSpec, EvalTable, MISSING_LEVEL, parse_eval_csv};

const PATH: &str = "mem/data.csv";

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn parse_with(
    csv: &[u8],
    label: &str,
    scores: &[&str],
    groups: &[&str],
) -> Result<EvalTable, DataError> {
    let scores = strings(scores);
    let groups = strings(groups);
    let spec = EvalSpec {
        label,
        scores: &scores,
        groups: &groups,
    };
    parse_eval_csv(csv, Path::new(PATH), &spec)
}

/// Standard spec: label "label", score "score", group "site".
fn parse(csv: &[u8]) -> Result<EvalTable, DataError> {
    parse_with(csv, "label", &["score"], &["site"])
}

fn err(csv: &[u8]) -> (DataError, String) {
    let e = parse(csv).expect_err("must be rejected");
    let msg = e.to_string();
    assert!(
        msg.starts_with(PATH),
        "message must start with the path: {msg}"
    );
    (e, msg)
}

#[test]
fn plain_table() {
    let t = parse(b"case_id,label,score,site\n1,1,0.25,A\n2,0,0.75,B\n").unwrap();
    assert_eq!(t.path, Path::new(PATH));
    assert_eq!(t.labels, [true, false]);
    assert_eq!(t.score_names, ["score"]);
    assert_eq!(t.scores, [vec![0.25, 0.75]]);
    assert_eq!(t.groups[0].name, "site");
}

#[test]
fn bom_is_stripped() {
    let t = parse(b"\xEF\xBB\xBFlabel,score,site\n1,0.5,A\n").unwrap();
    assert_eq!(t.labels, [true]);
    assert_eq!(t.scores, [vec![0.5]]);
}

#[test]
fn crlf_line_endings() {
    let t = parse(b"label,score,site\r\n1,0.5,A\r\n0,0.25,B\r\n").unwrap();
    assert_eq!(t.labels, [true, false]);
    assert_eq!(t.scores, [vec![0.5, 0.25]]);
    assert_eq!(t.groups[0].levels, ["A", "B"]);
}

#[test]
fn crlf_bad_row_line_number() {
    let (e, msg) = err(b"label,score,site\r\n1,0.5,A\r\n0,x,B\r\n");
    assert!(
        matches!(
            e,
            DataError::ScoreNotANumber {
                location: CellLocation { line: 3, .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        msg.contains("data.csv:3: column 'score' (column 2) has 'x', which is not a number"),
        "{msg}"
    );
}

#[test]
fn quoted_fields_with_comma_and_newline_keep_line_numbers() {
    let csv = b"case_id,label,score,site\n\
        1,1,0.5,\"Site, North\"\n\
        2,0,\"0.25\",\"multi\nline\"\n\
        3,1,0.75,\"say \"\"hi\"\"\"\n\
        4,7,0.5,A\n";
    let (e, msg) = err(csv);
    // Lines: header 1, case 1 on 2, case 2 on 3-4, case 3 on 5, case 4 on 6.
    assert!(
        matches!(
            e,
            DataError::InvalidLabel {
                location: CellLocation { line: 6, .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        msg.contains("data.csv:6: column 'label' (column 2) has '7'"),
        "{msg}"
    );
    assert!(msg.contains("(case_id 4)"), "{msg}");

    let ok = parse(&csv[..csv.len() - b"4,7,0.5,A\n".len()]).unwrap();
    assert_eq!(
        ok.groups[0].levels,
        ["Site, North", "multi\nline", "say \"hi\""]
    );
    assert_eq!(ok.scores[0], [0.5, 0.25, 0.75]);
}

#[test]
fn bad_row_inside_multiline_record_reports_start_line() {
    let (e, _) = err(b"label,score,site\n1,0.5,A\n2,0.5,\"x\ny\"\n");
    assert!(
        matches!(
            e,
            DataError::InvalidLabel {
                location: CellLocation { line: 3, .. },
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn scientific_notation_and_trimmed_spaces() {
    let t = parse(b"label,score,site\n1,5e-1,A\n0, 2.5E-1 ,A\n 1 ,1,A\n0,0,A\n").unwrap();
    assert_eq!(t.scores[0], [0.5, 0.25, 1.0, 0.0]);
    assert_eq!(t.labels, [true, false, true, false]);
}

#[test]
fn negative_zero_is_normalised() {
    let t = parse(b"label,score,site\n1,-0.0,A\n0,-0,A\n").unwrap();
    for v in &t.scores[0] {
        assert_eq!(*v, 0.0);
        assert!(v.is_sign_positive(), "-0.0 not normalised");
    }
}

#[test]
fn labels_one_point_zero_accepted() {
    let t = parse(b"label,score,site\n1.0,0.5,A\n0.0,0.5,A\n").unwrap();
    assert_eq!(t.labels, [true, false]);
}

#[test]
fn bad_labels_rejected() {
    for bad in ["2", "yes", "true", "-1", "1.5", "01", "0.00"] {
        let csv = format!("case_id,label,score,site\n9,1,0.5,A\n10,{bad},0.5,A\n");
        let (e, msg) = err(csv.as_bytes());
        assert!(
            matches!(
                e,
                DataError::InvalidLabel {
                    location: CellLocation {
                        line: 3,
                        column_number: 2,
                        ..
                    },
                    ..
                }
            ),
            "{bad}: {e:?}"
        );
        assert!(
            msg.contains(&format!("data.csv:3: column 'label' (column 2) has '{bad}'; labels must be 0 or 1 (case_id 10)")),
            "{msg}"
        );
    }
}

#[test]
fn empty_label_rejected() {
    let (e, msg) = err(b"label,score,site\n1,0.5,A\n,0.5,A\n");
    assert!(
        matches!(
            e,
            DataError::EmptyValue {
                location: CellLocation { line: 3, .. },
                role: "label",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        msg.contains("data.csv:3: column 'label' (column 1) is empty"),
        "{msg}"
    );
}

#[test]
fn empty_score_rejected() {
    let (e, msg) = err(b"id,label,score,site\nx1,1,,A\n");
    assert!(
        matches!(
            e,
            DataError::EmptyValue {
                location: CellLocation {
                    line: 2,
                    column_number: 3,
                    ..
                },
                role: "score",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        msg.contains("data.csv:2: column 'score' (column 3) is empty"),
        "{msg}"
    );
    assert!(
        msg.contains("(case_id x1)"),
        "id column used as case id: {msg}"
    );
}

#[test]
fn non_finite_scores_rejected() {
    for bad in ["inf", "-inf", "infinity", "NaN", "nan", "+Inf", "1e999"] {
        let csv = format!("label,score,site\n1,{bad},A\n");
        let (e, msg) = err(csv.as_bytes());
        assert!(
            matches!(
                e,
                DataError::ScoreNotFinite {
                    location: CellLocation { line: 2, .. },
                    ..
                }
            ),
            "{bad}: {e:?}"
        );
        assert!(
            msg.contains(&format!("has '{bad}', which is not a finite number")),
            "{msg}"
        );
    }
}

#[test]
fn out_of_range_scores_rejected() {
    for bad in ["-0.1", "1.0000001", "2", "-1e-300"] {
        let csv = format!("label,score,site\n1,{bad},A\n");
        let (e, msg) = err(csv.as_bytes());
        assert!(
            matches!(
                e,
                DataError::ScoreOutOfRange {
                    location: CellLocation { line: 2, .. },
                    ..
                }
            ),
            "{bad}: {e:?}"
        );
        assert!(
            msg.contains(&format!(
                "has '{bad}', outside [0, 1]; scores must be probabilities"
            )),
            "{msg}"
        );
        assert!(!msg.contains("case_id"), "no case column here: {msg}");
    }
}

#[test]
fn non_numeric_score_rejected() {
    let (e, msg) = err(b"label,score,site\n1,0.5.1,A\n");
    assert!(matches!(e, DataError::ScoreNotANumber { .. }), "{e:?}");
    assert!(msg.contains("'0.5.1', which is not a number"), "{msg}");
}

#[test]
fn empty_group_is_missing_level_and_levels_sorted() {
    let t =
        parse(b"label,score,site\n1,0.5,b\n0,0.5,\n1,0.5,A\n0,0.5,b\n1,0.5,10\n0,0.5,\n").unwrap();
    let g = &t.groups[0];
    assert_eq!(g.levels, [MISSING_LEVEL, "10", "A", "b"]);
    assert_eq!(g.codes, [3, 0, 2, 3, 1, 0]);
}

#[test]
fn group_values_are_not_trimmed() {
    let t = parse(b"label,score,site\n1,0.5,A\n0,0.5, A\n").unwrap();
    assert_eq!(t.groups[0].levels, [" A", "A"]);
    assert_eq!(t.groups[0].codes, [1, 0]);
}

#[test]
fn many_levels_use_hash_path_and_stay_sorted() {
    let mut csv = String::from("label,score,site\n");
    let n = 100;
    for i in 0..(3 * n) {
        csv.push_str(&format!("1,0.5,L{:03}\n", (i * 37) % n));
    }
    let t = parse(csv.as_bytes()).unwrap();
    let g = &t.groups[0];
    assert_eq!(g.levels.len(), n);
    assert!(g.levels.windows(2).all(|w| w[0] < w[1]));
    for (i, &code) in g.codes.iter().enumerate() {
        assert_eq!(g.levels[code as usize], format!("L{:03}", (i * 37) % n));
    }
}

#[test]
fn ragged_rows_rejected() {
    let (e, msg) = err(b"case_id,label,score,site\n1,1,0.5,A\n2,0,0.5\n");
    assert!(
        matches!(
            e,
            DataError::RaggedRow {
                line: 3,
                expected: 4,
                found: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        msg.contains("data.csv:3: expected 4 fields (as in the header), found 3 (case_id 2)"),
        "{msg}"
    );

    assert!(!msg.contains("unclosed"), "{msg}");
    // A quote closed on a later line makes one field of two rows.
    let (e, msg) =
        err(b"case_id,label,score,site\nc1,1,0.5,A\nc2,0,\"0.5,B\nc3,1\",0.7,A\nc4,0,0.2,B\n");
    assert!(matches!(e, DataError::RaggedRow { line: 3, .. }), "{e:?}");
    assert!(msg.contains("is a '\"' misplaced here?"), "{msg}");
    // A quote never closed would swallow every row after it, in the last column too, where
    // no row would come out ragged: refused, naming its line.
    for csv in [
        &b"case_id,label,score,site\nc1,1,0.5,A\nc2,0,\"0.5,B\nc3,1,0.7,A\nc4,0,0.2,B\n"[..],
        b"case_id,label,score,site\nc1,1,0.5,A\nc2,0,0.5,\"B\nc3,1,0.7,A\nc4,0,0.2,B\n",
    ] {
        let (e, msg) = err(csv);
        assert!(
            matches!(e, DataError::UnclosedQuote { line: 3, .. }),
            "{e:?}"
        );
        assert!(msg.contains("never closed"), "{msg}");
    }
    // Quotes that are closed, doubled inside a field, or inside an unquoted field are fine.
    let t = parse_with(
        b"case_id,label,score,note\nc1,1,0.5,5\" lesion\nc2,0,0.4,\"a \"\"b\"\" c\"\nc3,1,0.7,\"two\nlines\"\n",
        "label",
        &["score"],
        &[],
    )
    .unwrap();
    assert_eq!(t.n_rows(), 3);

    let (e, _) = err(b"label,score,site\n1,0.5,A,extra\n");
    assert!(
        matches!(
            e,
            DataError::RaggedRow {
                line: 2,
                expected: 3,
                found: 4,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn blank_lines_skipped() {
    let t = parse(b"label,score,site\n1,0.5,A\n\n0,0.5,A\n\n").unwrap();
    assert_eq!(t.labels.len(), 2);
}

#[test]
fn line_numbers_count_blank_lines() {
    let (e, _) = err(b"\n\nlabel,score,site\n1,0.5,A\n\n\n0,x,A\n");
    assert!(
        matches!(
            e,
            DataError::ScoreNotANumber {
                location: CellLocation { line: 7, .. },
                ..
            }
        ),
        "{e:?}"
    );
    let (e, msg) = err(b"\r\nlabel,score,site\r\n");
    assert!(
        msg.ends_with("no data rows after the header (line 2)"),
        "{e:?}"
    );
}

#[test]
fn crlf_with_quoted_newline_and_bom_line_numbers() {
    let csv = b"\xEF\xBB\xBFlabel,score,site\r\n1,0.5,\"a\r\nb\"\r\n\r\n0,0.5,A\r\n1,0.5,B,x\r\n";
    let (e, _) = err(csv);
    // header 1; record on 2-3; blank 4; 5; bad record on 6.
    assert!(matches!(e, DataError::RaggedRow { line: 6, .. }), "{e:?}");
}

#[test]
fn empty_inputs() {
    for input in [&b""[..], b"\xEF\xBB\xBF", b"  \n\r\n\t", b"\xEF\xBB\xBF\n"] {
        let (e, msg) = err(input);
        assert!(matches!(e, DataError::Empty { .. }), "{input:?}: {e:?}");
        assert!(
            msg.contains("file is empty: expected a header row such as `case_id,label,score`"),
            "{msg}"
        );
    }
}

#[test]
fn header_only_crlf() {
    let (e, msg) = err(b"label,score,site\r\n");
    assert!(matches!(e, DataError::NoDataRows { .. }), "{e:?}");
    assert!(
        msg.ends_with("no data rows after the header (line 1)"),
        "{msg}"
    );
}

#[test]
fn missing_column_suggests_close_name() {
    let e = parse(b"label,Score,site\n1,0.5,A\n").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("score column 'score' is not in the header"),
        "{msg}"
    );
    assert!(msg.contains("'label', 'Score', 'site'"), "{msg}");
    assert!(msg.contains("did you mean 'Score'?"), "{msg}");

    let msg = parse(b"label, score ,site\n1,0.5,A\n")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("did you mean ' score '?"), "{msg}");
}

#[test]
fn duplicate_requested_column_in_header_is_ambiguous() {
    let (e, msg) = err(b"label,score,site,score\n1,0.5,A,0.5\n");
    assert!(
        matches!(&e, DataError::AmbiguousColumn { column_numbers, .. } if column_numbers == &[2, 4]),
        "{e:?}"
    );
    assert!(
        msg.contains("'score' appears more than once in the header"),
        "{msg}"
    );
    assert!(msg.contains("columns 2 and 4"), "{msg}");
}

#[test]
fn duplicate_unrequested_columns_are_fine() {
    let t = parse(b"note,label,score,site,note\nx,1,0.5,A,y\n").unwrap();
    assert_eq!(t.labels, [true]);
}

#[test]
fn same_column_requested_twice() {
    let e = parse_with(
        b"label,score,site\n1,0.5,A\n",
        "label",
        &["score", "score"],
        &[],
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(
        e,
        DataError::ConflictingRequest {
            first_role: "score",
            second_role: "score",
            ..
        }
    ));
    assert!(
        msg.contains("mem/data.csv: column 'score' is requested twice as score"),
        "{msg}"
    );
}

#[test]
fn one_column_in_two_roles() {
    let e = parse_with(b"label,score,site\n1,0.5,A\n", "label", &["label"], &[]).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("column 'label' is requested both as label and as score"),
        "{msg}"
    );

    let e = parse_with(
        b"label,score,site\n1,0.5,A\n",
        "label",
        &["score"],
        &["score"],
    )
    .unwrap_err();
    assert!(e.to_string().contains("both as score and as group"), "{e}");
}

#[test]
fn invalid_utf8_in_used_fields_rejected() {
    // Score column.
    let (e, msg) = err(b"label,score,site\n1,0.5,A\n0,0.\xFF,A\n");
    assert!(
        matches!(
            e,
            DataError::InvalidUtf8 {
                location: CellLocation {
                    line: 3,
                    column_number: 2,
                    ..
                },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        msg.contains("data.csv:3: column 'score' (column 2) is not valid UTF-8"),
        "{msg}"
    );
    // Group column.
    let (e, msg) = err(b"label,score,site\n1,0.5,A\n0,0.5,caf\xE9\n");
    assert!(
        matches!(
            e,
            DataError::InvalidUtf8 {
                location: CellLocation {
                    line: 3,
                    column_number: 3,
                    ..
                },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        msg.contains("column 'site' (column 3) is not valid UTF-8 ('caf\u{FFFD}'"),
        "{msg}"
    );
    // Label column.
    let (e, _) = err(b"label,score,site\n\xC3,0.5,A\n");
    assert!(
        matches!(
            e,
            DataError::InvalidUtf8 {
                location: CellLocation {
                    line: 2,
                    column_number: 1,
                    ..
                },
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn invalid_utf8_in_unused_column_ignored() {
    let t = parse(b"label,score,site,note\n1,0.5,A,\xFF\xFE\n").unwrap();
    assert_eq!(t.labels, [true]);
}

#[test]
fn no_scores_or_groups_requested() {
    let t = parse_with(b"label,score\n1,0.5\n0,0.5\n", "label", &[], &[]).unwrap();
    assert_eq!(t.labels, [true, false]);
    assert!(t.scores.is_empty() && t.groups.is_empty());
}

#[test]
fn long_values_are_shortened_in_messages() {
    let long = "x".repeat(500);
    let csv = format!("label,score,site\n1,{long},A\n");
    let msg = err(csv.as_bytes()).1;
    assert!(msg.len() < 300, "{msg}");
    assert!(msg.contains('…'), "{msg}");
}

/// A spreadsheet's "Unicode Text" export (UTF-16, with or without a byte-order mark) and UTF-32
/// are refused naming the encoding and the conversion, not misread as a file without the
/// requested columns; UTF-8 with a mark is read.
#[test]
fn utf16_and_utf32_text_is_named() {
    let text = "label,score,site\n1,0.9,A\n0,0.1,B\n";
    let utf16le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let utf32le: Vec<u8> = text
        .chars()
        .flat_map(|c| (c as u32).to_le_bytes())
        .collect();
    let cases: [(Vec<u8>, &str); 5] = [
        ([&[0xFF, 0xFE][..], &utf16le].concat(), "UTF-16LE"),
        ([&[0xFE, 0xFF][..], &utf16be].concat(), "UTF-16BE"),
        (utf16le.clone(), "UTF-16LE"),
        (utf16be, "UTF-16BE"),
        ([&[0xFF, 0xFE, 0, 0][..], &utf32le].concat(), "UTF-32LE"),
    ];
    for (bytes, encoding) in cases {
        let (e, msg) = err(&bytes);
        assert!(
            matches!(e, DataError::Encoding { encoding: found, .. } if found == encoding),
            "{msg}"
        );
        assert!(
            msg.starts_with(&format!("{PATH}: the file is {encoding} text, not UTF-8"))
                && msg.contains(&format!("iconv -f {encoding} -t UTF-8")),
            "{msg}"
        );
    }
    let with_mark = [&b"\xEF\xBB\xBF"[..], text.as_bytes()].concat();
    assert_eq!(parse(&with_mark).unwrap().n_rows(), 2);
    assert_eq!(harness_data::foreign_unicode(text.as_bytes()), None);
}

/// A data row's line counts the header, blank lines (LF, CRLF, CR) and line breaks inside
/// quoted fields, as the readers' own errors do; past the last row there is none.
#[test]
fn a_data_row_is_placed_on_its_line() {
    use harness_data::RowPlace;
    let plain = b"\xEF\xBB\xBFlabel,score\r\n\r\n1,0.9\r\n0,0.1\n\n\n1,0.5\n";
    let lines: Vec<Option<u64>> = (1..=4)
        .map(|r| RowPlace::find(plain, r).line.map(u64::from))
        .collect();
    assert_eq!(lines, [Some(3), Some(4), Some(7), None]);
    let quoted = b"label,note,score\n1,\"two\nlines\",0.9\n\n0,\"x\",0.1\n";
    let lines: Vec<Option<u64>> = (1..=3)
        .map(|r| RowPlace::find(quoted, r).line.map(u64::from))
        .collect();
    assert_eq!(lines, [Some(2), Some(5), None]);
    assert_eq!(RowPlace::find(quoted, 2).to_string(), "line 5 (data row 2)");
    assert_eq!(RowPlace::find(quoted, 3).to_string(), "data row 3");
}

/// Levels that differ only in case or surrounding spaces are read as the file has them (distinct
/// subgroups), and named by a warning the commands print.
#[test]
fn look_alike_levels_are_kept_and_named() {
    let t = parse(b"label,score,site\n1,0.9,A\n0,0.1,A \n1,0.8,a\n0,0.2,B\n").unwrap();
    assert_eq!(t.groups[0].levels, ["A", "A ", "B", "a"]);
    let w = harness_data::look_alike_levels("site", t.groups[0].levels.iter().map(String::as_str))
        .unwrap();
    assert_eq!(
        w,
        "subgroup column 'site': levels 'A' / 'A ' / 'a' differ only in case, surrounding spaces or Unicode form (or all spell a missing value) and are counted as different subgroups; clean the column if each is one group"
    );
    assert_eq!(
        harness_data::look_alike_levels("site", ["A", "B", ""]),
        None
    );
    // One name typed precomposed at one site and decomposed at another prints alike; so does
    // a full-width spelling.
    let w = harness_data::look_alike_levels("ward", ["M\u{fc}ller", "Mu\u{308}ller", "B"]).unwrap();
    assert!(w.contains("'M\u{fc}ller' / 'Mu\u{308}ller'"), "{w}");
    assert!(harness_data::look_alike_levels("ward", ["ICU", "\u{ff29}\u{ff23}\u{ff35}"]).is_some());
    assert_eq!(
        harness_data::look_alike_levels("ward", ["M\u{fc}ller", "Muller"]),
        None
    );
    // Blank cells beside `NA` (or `null` beside `N/A`) put missing values in two levels.
    let w = harness_data::look_alike_levels("ward", ["(missing)", "NA", "B"]).unwrap();
    assert!(w.contains("'(missing)' / 'NA'"), "{w}");
    assert!(harness_data::look_alike_levels("ward", ["null", "N/A"]).is_some());
    assert_eq!(harness_data::look_alike_levels("ward", ["NA", "B"]), None);
    // A blank cell is as missing as an empty one (the reader's "(missing)", or "" in a run).
    for missing in ["(missing)", ""] {
        let w = harness_data::look_alike_levels("site", [missing, "  ", "A"]).unwrap();
        assert!(w.contains(&format!("'{missing}' / '  '")), "{w}");
    }
}

/// A case id on two rows (a file concatenated twice) is refused naming the id and both lines,
/// on the quote-free path, the quoted path and the parallel path of a large file alike;
/// surrounding spaces do not make two ids different.
#[test]
fn a_repeated_case_id_is_refused_naming_both_lines() {
    for (csv, id, first, second) in [
        (
            &b"case_id,label,score,site\nc1,1,0.5,A\nc2,0,0.2,A\n\nc1,0,0.3,B\n"[..],
            "c1",
            2,
            5,
        ),
        (
            b"id,label,score,site\n\"a,b\",1,0.5,A\nc,0,0.2,A\n\"a,b\" ,0,0.3,B\n",
            "a,b",
            2,
            4,
        ),
        // The id column's name in another letter case, or with spaces, as spreadsheets write it.
        (
            b"Case_ID,label,score,site\nc1,1,0.5,A\nc2,0,0.2,A\nc1,0,0.3,B\n",
            "c1",
            2,
            4,
        ),
        (
            b"label,score,site, ID \n1,0.5,A,x\n0,0.2,A,y\n0,0.3,B,x\n",
            "x",
            2,
            4,
        ),
    ] {
        let (e, msg) = err(csv);
        match e {
            DataError::DuplicateCaseId {
                id: got,
                first_line,
                line,
                ..
            } => assert_eq!(
                (got.as_str(), first_line, line),
                (id, first, second),
                "{msg}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(msg.contains(&format!("case id '{id}'")), "{msg}");
    }
    // Large enough for parallel chunks: the repeat is the last row, the first the second.
    let mut big = String::from("case_id,label,score,site\n");
    for i in 0..60_000 {
        big.push_str(&format!(
            "case-{i:06},{},0.{:04},S{}\n",
            i % 2,
            i % 9973,
            i % 3
        ));
    }
    big.push_str("case-000001,1,0.5,S1\n");
    let (_, msg) = err(big.as_bytes());
    assert!(
        msg.contains(":60002: case id 'case-000001' (column 'case_id') is already on line 3"),
        "{msg}"
    );
    let unique = big.rsplit_once("case-000001,1,0.5").unwrap().0;
    assert_eq!(parse(unique.as_bytes()).unwrap().n_rows(), 60_000);
    // A quoted file (as R's write.csv writes) with blank lines, concatenated twice: every row
    // of the first copy is a candidate, and the lines named are the file's.
    let mut copy = String::new();
    for i in 0..3000 {
        copy.push_str(&format!("\"q{i}\",{},0.{:03},\"S\"\n", i % 2, i % 997));
        if i % 100 == 0 {
            copy.push('\n');
        }
    }
    let twice = format!("\n\"case_id\",\"label\",\"score\",\"site\"\n{copy}{copy}");
    let (_, msg) = err(twice.as_bytes());
    // Line 1 is blank, 2 the header, 3 the first row; the copy is 3030 lines long.
    assert!(
        msg.contains(":3033: case id 'q0' (column 'case_id') is already on line 3"),
        "{msg}"
    );
}

/// Ids are checked only in the case id column when it is not read in another role: a column
/// read as a group (a patient column for `--cluster`) repeats by design; empty ids are not ids.
#[test]
fn ids_read_as_a_group_and_empty_ids_are_not_refused() {
    let t = parse_with(
        b"id,label,score\np1,1,0.5\np1,0,0.2\np2,1,0.7\n",
        "label",
        &["score"],
        &["id"],
    )
    .unwrap();
    assert_eq!(t.n_rows(), 3);
    let t = parse(b"case_id,label,score,site\n,1,0.5,A\n ,0,0.2,A\nc3,1,0.7,B\n").unwrap();
    assert_eq!(t.n_rows(), 3);
}

/// Files a spreadsheet program saved otherwise than as comma-separated CSV are named for what
/// they are: separated by semicolons or tabs, or opened by Excel's `sep=` line; a decimal
/// comma in a quoted score is named too.
#[test]
fn other_separators_and_decimal_commas_are_named() {
    for (csv, needle) in [
        (
            &b"label;score;site\n1;0,5;A\n"[..],
            "looks separated by semicolons",
        ),
        (
            b"label\tscore\tsite\n1\t0.5\tA\n",
            "looks separated by tabs",
        ),
        // Every field quoted, as some exports write them.
        (
            b"\"label\";\"score\";\"site\"\n\"1\";\"0,5\";\"A\"\n",
            "looks separated by semicolons",
        ),
        (
            b"sep=,\nlabel,score,site\n1,0.5,A\n",
            "line 1 is 'sep=,', an Excel separator directive",
        ),
    ] {
        let (e, msg) = err(csv);
        assert!(matches!(e, DataError::MissingColumn { .. }), "{msg}");
        assert!(msg.contains(needle), "{msg}");
    }
    let (_, msg) = err(b"label,score,site\n1,\"0,75\",A\n");
    assert!(msg.contains("has '0,75', which is not a number"), "{msg}");
    assert!(msg.contains("(this one has a decimal comma)"), "{msg}");
    let (_, msg) = err(b"label,score,site\n1,abc,A\n");
    assert!(!msg.contains("decimal comma"), "{msg}");
    // An ordinary missing column gets no format hint.
    let (_, msg) = err(b"label,prob,site\n1,0.5,A\n");
    assert!(!msg.contains("looks separated"), "{msg}");
}
