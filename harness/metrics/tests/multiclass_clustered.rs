//! Multi-class evaluation with a patient column and subgroup columns (`multiclass.rs`):
//! each class's clustered block is the binary Obuchowski estimate of that class against the
//! rest; one image per patient gives DeLong's variances; the macro AUROC's cluster bootstrap and
//! the paired clustered comparison are those of the patients actually drawn (checked against a
//! direct computation on materialised resamples); each subgroup level is this evaluation on the
//! level's cases, and the gaps name the levels at either end.

use harness_metrics::bootstrap::{bounded_draws, percentile_ci, replicate_seeds};
use harness_metrics::cluster::obuchowski_auroc;
use harness_metrics::evaluate::Grouping;
use harness_metrics::multiclass::{
    MulticlassError, MulticlassInput, MulticlassOptions, MulticlassReport, evaluate_multiclass,
};

/// A small deterministic generator (xorshift64*), so the data need no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Patients of 1–4 images, each image of one of `k` classes (a patient's images mostly share
/// one class), a site per patient, and two models: "good" and "weak" (softmax of a class
/// signal plus noise; scores rounded to 2 decimals so there are ties).
struct Data {
    classes: Vec<String>,
    labels: Vec<u32>,
    patient: Vec<u32>,
    patients: Vec<String>,
    site: Vec<u32>,
    sites: Vec<String>,
    good: Vec<Vec<f64>>,
    weak: Vec<Vec<f64>>,
}

impl Data {
    fn new(k: usize, n_patients: usize, seed: u64) -> Data {
        let mut rng = Rng(seed);
        let (mut labels, mut patient, mut site) = (Vec::new(), Vec::new(), Vec::new());
        for p in 0..n_patients {
            let images = 1 + (rng.next() % 4) as usize;
            let usual = (rng.next() % k as u64) as u32;
            for _ in 0..images {
                let y = if rng.uniform() < 0.8 {
                    usual
                } else {
                    (rng.next() % k as u64) as u32
                };
                labels.push(y);
                patient.push(p as u32);
                site.push((p % 3) as u32);
            }
        }
        let model = |signal: f64, rng: &mut Rng| -> Vec<Vec<f64>> {
            let mut cols = vec![Vec::new(); k];
            for &y in &labels {
                let raw: Vec<f64> = (0..k)
                    .map(|c| {
                        let s = if c == y as usize { signal } else { 0.0 };
                        (s + rng.uniform()).exp()
                    })
                    .collect();
                let sum: f64 = raw.iter().sum();
                // Rounded, then the last class takes the rest, so each row sums to 1.
                let mut row: Vec<f64> = raw
                    .iter()
                    .map(|r| (r / sum * 100.0).round() / 100.0)
                    .collect();
                let head: f64 = row[..k - 1].iter().sum();
                row[k - 1] = (1.0 - head).max(0.0);
                let total: f64 = row.iter().sum();
                for (c, v) in row.iter().enumerate() {
                    cols[c].push(v / total);
                }
            }
            cols
        };
        let good = model(0.6, &mut rng);
        let weak = model(0.25, &mut rng);
        Data {
            classes: (0..k).map(|c| format!("c{c}")).collect(),
            labels,
            patients: (0..n_patients).map(|p| format!("P{p}")).collect(),
            patient,
            sites: vec!["north".into(), "south".into(), "west".into()],
            site,
            good,
            weak,
        }
    }

    fn input(&self, clustered: bool, grouped: bool) -> MulticlassInput<'_> {
        MulticlassInput {
            classes: &self.classes,
            labels: &self.labels,
            models: vec![
                ("good", self.good.iter().map(Vec::as_slice).collect()),
                ("weak", self.weak.iter().map(Vec::as_slice).collect()),
            ],
            groupings: if grouped {
                vec![Grouping {
                    name: "site",
                    levels: &self.sites,
                    codes: &self.site,
                }]
            } else {
                Vec::new()
            },
            cluster: clustered.then(|| Grouping {
                name: "patient",
                levels: &self.patients,
                codes: &self.patient,
            }),
        }
    }

    /// The cases of these patients, each patient's images as often as it is listed.
    fn resample(&self, drawn: &[u32]) -> (Vec<u32>, Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let k = self.classes.len();
        let (mut labels, mut good, mut weak) =
            (Vec::new(), vec![Vec::new(); k], vec![Vec::new(); k]);
        for &p in drawn {
            for case in (0..self.labels.len()).filter(|&i| self.patient[i] == p) {
                labels.push(self.labels[case]);
                for c in 0..k {
                    good[c].push(self.good[c][case]);
                    weak[c].push(self.weak[c][case]);
                }
            }
        }
        (labels, good, weak)
    }
}

fn run(input: &MulticlassInput, bootstrap: usize) -> MulticlassReport {
    evaluate_multiclass(
        input,
        &MulticlassOptions {
            bootstrap,
            seed: 11,
        },
    )
    .unwrap()
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
        "{what}: {a} vs {b}"
    );
}

#[test]
fn each_class_gets_the_binary_obuchowski_estimate_of_that_class_against_the_rest() {
    let d = Data::new(4, 80, 3);
    let r = run(&d.input(true, false), 0);
    assert_eq!(r.cluster.as_deref(), Some("patient"));
    for (name, cols) in [("good", &d.good), ("weak", &d.weak)] {
        for (k, class) in d.classes.iter().enumerate() {
            let is_k: Vec<bool> = d.labels.iter().map(|&y| y as usize == k).collect();
            let want = obuchowski_auroc(&is_k, &cols[k], &d.patient, d.patients.len())
                .unwrap()
                .obuchowski;
            let got = r.models[name].ovr[class].clustered.as_ref().unwrap();
            close(got.auroc_var_obuchowski.unwrap(), want.var, "var");
            assert_eq!(got.auroc_ci95_obuchowski, Some(want.ci95));
            assert_eq!(
                r.models[name].ovr[class].auroc_ci95_reported(),
                Some(want.ci95)
            );
        }
    }
    // Without the patient column: no clustered block, the DeLong CI is the reported one.
    let plain = run(&d.input(false, false), 0);
    let o = &plain.models["good"].ovr["c0"];
    assert!(o.clustered.is_none() && plain.cluster.is_none());
    assert_eq!(o.auroc_ci95_reported(), o.discrimination.auroc_ci95_delong);
}

#[test]
fn one_image_per_patient_gives_the_delong_variances() {
    let d = Data::new(3, 150, 5);
    let singletons: Vec<u32> = (0..d.labels.len() as u32).collect();
    let names: Vec<String> = singletons.iter().map(|i| format!("i{i}")).collect();
    let mut input = d.input(false, false);
    input.cluster = Some(Grouping {
        name: "image",
        levels: &names,
        codes: &singletons,
    });
    let r = run(&input, 0);
    for m in r.models.values() {
        for o in m.ovr.values() {
            let c = o.clustered.as_ref().unwrap();
            close(
                c.auroc_var_obuchowski.unwrap(),
                o.discrimination.auroc_var_delong.unwrap(),
                "singleton clusters",
            );
            assert_eq!(c.counts.cluster_size_max, 1);
        }
    }
}

/// The cluster bootstrap of the macro AUROC, replicate by replicate: the patients drawn by the
/// replicate's generator (drawn again while a class with a one-vs-rest AUROC is missing or is
/// every case), their images materialised, and the macro AUROC of that data set.
#[test]
fn the_macro_cluster_bootstrap_is_the_macro_auroc_of_the_patients_drawn() {
    let mut d = Data::new(4, 40, 9);
    assert_macro_cluster_bootstrap(&d);
    // A class held by two patients only: resamples often miss it and are drawn again.
    for (y, &p) in d.labels.iter_mut().zip(&d.patient) {
        *y = if p < 2 {
            3
        } else if *y == 3 {
            0
        } else {
            *y
        };
    }
    assert!(
        assert_macro_cluster_bootstrap(&d) > 0,
        "no redraw was exercised"
    );
}

/// Checks the cluster bootstrap of `d` against materialised resamples; returns the redraws.
fn assert_macro_cluster_bootstrap(d: &Data) -> u64 {
    let b = 40;
    let r = run(&d.input(true, false), b);
    let i = d.patients.len();
    let k = d.classes.len();
    let defined: Vec<usize> = (0..k)
        .filter(|&c| {
            let n = d.labels.iter().filter(|&&y| y as usize == c).count();
            n > 0 && n < d.labels.len()
        })
        .collect();
    let (mut good, mut weak, mut diffs, mut redrawn) = (Vec::new(), Vec::new(), Vec::new(), 0u64);
    for s in replicate_seeds(11, b) {
        let stream = bounded_draws(s, i as u32, i * 50);
        let drawn = stream
            .chunks(i)
            .find(|chunk| {
                let (labels, _, _) = d.resample(chunk);
                let ok = defined.iter().all(|&c| {
                    let n = labels.iter().filter(|&&y| y as usize == c).count();
                    n > 0 && n < labels.len()
                });
                redrawn += u64::from(!ok);
                ok
            })
            .unwrap();
        let (labels, g, w) = d.resample(drawn);
        let once = evaluate_multiclass(
            &MulticlassInput {
                classes: &d.classes,
                labels: &labels,
                models: vec![
                    ("good", g.iter().map(Vec::as_slice).collect()),
                    ("weak", w.iter().map(Vec::as_slice).collect()),
                ],
                groupings: Vec::new(),
                cluster: None,
            },
            &MulticlassOptions::default(),
        )
        .unwrap();
        // A class present in the data but absent from the resample would change the macro's
        // classes: the redraw rule prevents it.
        let (a, bb) = (
            once.models["good"].auroc_macro.unwrap(),
            once.models["weak"].auroc_macro.unwrap(),
        );
        good.push(a);
        weak.push(bb);
        diffs.push(a - bb);
    }
    for (name, values) in [("good", &mut good), ("weak", &mut weak)] {
        let got = r.models[name]
            .auroc_macro_bootstrap_clustered
            .clone()
            .flatten()
            .unwrap();
        let (ci, median) = percentile_ci(values);
        close(got.ci95[0], ci[0], "lower");
        close(got.ci95[1], ci[1], "upper");
        close(got.median, median, "median");
        assert_eq!(got.n, b);
        assert_eq!(got.n_redrawn, redrawn);
        assert_eq!(r.models[name].auroc_macro_ci95_reported(), Some(got.ci95));
    }
    let c = r.comparisons_macro[0].clustered.as_ref().unwrap();
    let (ci, _) = percentile_ci(&mut diffs.clone());
    let got = c.ci95_diff.unwrap();
    close(got[0], ci[0], "diff lower");
    close(got[1], ci[1], "diff upper");
    let mean = diffs.iter().sum::<f64>() / b as f64;
    let sd = (diffs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (b as f64 - 1.0)).sqrt();
    close(c.sd_boot.unwrap(), sd, "sd");
    close(c.z.unwrap(), c.diff.unwrap() / sd, "z");
    assert!(c.method.contains("cluster bootstrap"));
    assert!(std::ptr::eq(r.comparisons_macro[0].reported(), &**c));
    // The image-level bootstrap is still there, and differs (it resamples images).
    let image = r.models["good"]
        .auroc_macro_bootstrap
        .clone()
        .flatten()
        .unwrap();
    assert_ne!(
        image.ci95,
        r.models["good"].auroc_macro_ci95_reported().unwrap()
    );
    redrawn
}

#[test]
fn one_patient_gives_reasons_not_panics() {
    let mut d = Data::new(3, 1, 2);
    // One patient with an image of every class (so the image-level AUROCs exist).
    while d.labels.len() < 3 {
        d = Data::new(3, 1, d.labels.len() as u64 + 17);
    }
    d.labels = (0..d.labels.len() as u32).map(|i| i % 3).collect();
    let r = run(&d.input(true, false), 20);
    let m = &r.models["good"];
    assert_eq!(m.auroc_macro_bootstrap_clustered, Some(None));
    assert!(
        m.auroc_macro_bootstrap_clustered_reason
            .as_deref()
            .unwrap()
            .contains("at least 2 patients")
    );
    let o = m.ovr.values().next().unwrap().clustered.as_ref().unwrap();
    assert!(o.reason.is_some() && o.auroc_ci95_obuchowski.is_none());
    let c = r.comparisons_macro[0].clustered.as_ref().unwrap();
    assert!(c.reason.as_deref().unwrap().contains("at least 2 patients"));
    assert!(serde_json::to_string(&r).unwrap().find("NaN").is_none());
}

#[test]
fn each_subgroup_level_is_the_evaluation_of_its_cases_and_gaps_name_the_extremes() {
    let d = Data::new(4, 90, 21);
    for clustered in [false, true] {
        let r = run(&d.input(clustered, true), 30);
        for (name, cols) in [("good", &d.good), ("weak", &d.weak)] {
            let levels = &r.models[name].subgroups["site"];
            assert_eq!(
                levels.keys().collect::<Vec<_>>(),
                ["north", "south", "west"]
            );
            for (code, (level, s)) in levels.iter().enumerate() {
                let rows: Vec<usize> = (0..d.labels.len())
                    .filter(|&i| d.site[i] == code as u32)
                    .collect();
                let labels: Vec<u32> = rows.iter().map(|&i| d.labels[i]).collect();
                let sub: Vec<Vec<f64>> = cols
                    .iter()
                    .map(|c| rows.iter().map(|&i| c[i]).collect())
                    .collect();
                let patients: Vec<u32> = rows.iter().map(|&i| d.patient[i]).collect();
                let alone = evaluate_multiclass(
                    &MulticlassInput {
                        classes: &d.classes,
                        labels: &labels,
                        models: vec![(name, sub.iter().map(Vec::as_slice).collect())],
                        groupings: Vec::new(),
                        cluster: clustered.then(|| Grouping {
                            name: "patient",
                            levels: &d.patients,
                            codes: &patients,
                        }),
                    },
                    &MulticlassOptions {
                        bootstrap: 30,
                        seed: 11,
                    },
                )
                .unwrap();
                let m = &alone.models[name];
                assert_eq!(s.n, rows.len() as u64, "{level}");
                assert_eq!(s.auroc_macro, m.auroc_macro, "{level}");
                assert_eq!(s.accuracy, m.accuracy, "{level}");
                assert_eq!(s.balanced_accuracy, m.balanced_accuracy, "{level}");
                assert_eq!(
                    s.auroc_macro_ci95,
                    Some(m.auroc_macro_ci95_reported()),
                    "{level}"
                );
                assert_eq!(
                    s.ci_method.as_deref().unwrap().contains("cluster"),
                    clustered,
                    "{level}"
                );
            }
            let g = &r.models[name].gaps["site"];
            let acc: Vec<(&String, f64)> = levels.iter().map(|(l, s)| (l, s.accuracy)).collect();
            // The first level at either end, as the report names it.
            let hi = acc
                .iter()
                .fold(acc[0], |b, x| if x.1 > b.1 { *x } else { b });
            let lo = acc
                .iter()
                .fold(acc[0], |b, x| if x.1 < b.1 { *x } else { b });
            assert_eq!(g.accuracy_gap, Some(hi.1 - lo.1));
            assert_eq!(g.accuracy_gap_max_group.as_ref(), Some(hi.0));
            assert_eq!(g.accuracy_gap_min_group.as_ref(), Some(lo.0));
            assert!(g.auroc_macro_gap.unwrap() >= 0.0);
        }
    }
}

#[test]
fn a_grouping_that_does_not_describe_the_cases_is_an_error() {
    let d = Data::new(3, 20, 4);
    let short = vec![0u32; d.labels.len() - 1];
    let mut input = d.input(false, false);
    input.groupings = vec![Grouping {
        name: "site",
        levels: &d.sites,
        codes: &short,
    }];
    let err = evaluate_multiclass(&input, &MulticlassOptions::default()).unwrap_err();
    assert!(matches!(err, MulticlassError::Grouping(_)), "{err}");
    assert!(err.to_string().contains("site"), "{err}");
}
