//! `evaluate` refuses input that does not describe one set of cases with an error naming the
//! model or grouping, where it used to panic inside the rank code.

use harness_metrics::{EvalError, EvalInput, EvalOptions, Grouping, evaluate};

#[test]
fn inconsistent_input_is_an_error_not_a_panic() {
    let labels = [true, false, true, false];
    let levels = vec!["A".to_string(), "B".to_string()];
    let good = [0.9, 0.1, 0.8, 0.3];
    let short = [0.9, 0.1, 0.8];
    let nan = [0.9, f64::NAN, 0.8, 0.3];
    let codes = [0u32, 1, 0, 1];
    let short_codes = [0u32, 1, 0];
    let bad_codes = [0u32, 1, 2, 1];
    let opts = EvalOptions::default();
    let run = |models: Vec<(&'static str, &[f64])>, codes: &[u32]| {
        evaluate(
            &EvalInput {
                labels: &labels,
                models,
                groupings: vec![Grouping {
                    name: "site",
                    levels: &levels,
                    codes,
                }],
                cluster: None,
            },
            &opts,
        )
    };
    assert!(run(vec![("m", &good)], &codes).is_ok());
    let e = run(vec![("m", &good), ("short", &short)], &codes).unwrap_err();
    assert_eq!(
        e,
        EvalError::ScoresLength {
            model: "short".into(),
            scores: 3,
            labels: 4
        }
    );
    assert_eq!(e.to_string(), "model 'short' has 3 scores for 4 labels");
    let e = run(vec![("nan", &nan)], &codes).unwrap_err();
    assert!(matches!(e, EvalError::Score { case: 1, .. }), "{e}");
    let e = run(vec![("m", &good)], &short_codes).unwrap_err();
    assert!(
        e.to_string()
            .contains("grouping 'site' has 3 level codes for 4 labels"),
        "{e}"
    );
    let e = run(vec![("m", &good)], &bad_codes).unwrap_err();
    assert!(
        e.to_string()
            .contains("case 2 has level code 2, but there are 2 levels"),
        "{e}"
    );
}
