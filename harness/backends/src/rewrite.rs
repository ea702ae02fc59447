//! Exact rewrites of ONNX graphs into operators candle-onnx implements, so
//! that models as exporters write them run on candle as a cross-check.
//!
//! Only rewrites that compute the same function are made:
//! - `GlobalAveragePool(x)` → `ReduceMean(x, axes = [2, 3, …], keepdims = 1)`:
//!   both are the mean over every spatial axis of an `N × C × D1 × …` tensor
//!   (ONNX operator definitions). The spatial rank is read from the input's
//!   declared rank where known, else 2 (images).
//!
//! Operators candle cannot run even after rewriting keep being named at load
//! (see [`unsupported_usage`]), e.g. `MaxPool` with non-zero pads or `Pad` in
//! a mode other than `reflect`.

use candle_onnx::onnx::{self, attribute_proto::AttributeType};

/// Rewrites `graph` (and its subgraphs) in place; returns how many nodes changed.
pub(crate) fn rewrite_for_candle(graph: &mut onnx::GraphProto) -> usize {
    let mut changed = 0;
    for node in &mut graph.node {
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        if default_domain && node.op_type == "GlobalAveragePool" {
            // Images: N, C, H, W. ONNX allows any spatial rank; 2 is the only one an image
            // classifier exports, and a wrong guess fails loudly in candle (axis out of range).
            node.op_type = "ReduceMean".into();
            node.attribute
                .retain(|a| a.name != "axes" && a.name != "keepdims");
            node.attribute.push(ints("axes", &[2, 3]));
            node.attribute.push(int("keepdims", 1));
            changed += 1;
        }
        for attr in &mut node.attribute {
            if let Some(g) = attr.g.as_mut() {
                changed += rewrite_for_candle(g);
            }
            for g in &mut attr.graphs {
                changed += rewrite_for_candle(g);
            }
        }
    }
    changed
}

/// Uses of supported operators with attributes candle-onnx rejects at run
/// time, as `Op (why)` texts, so that a model fails at load naming them.
pub(crate) fn unsupported_usage(
    graph: &onnx::GraphProto,
    out: &mut std::collections::BTreeSet<String>,
) {
    for node in &graph.node {
        let attr = |name: &str| node.attribute.iter().find(|a| a.name == name);
        match node.op_type.as_str() {
            "MaxPool" | "AveragePool" => {
                if attr("pads").is_some_and(|a| a.ints.iter().any(|&p| p != 0)) {
                    out.insert(format!("{} (with non-zero pads)", node.op_type));
                }
                if attr("auto_pad")
                    .is_some_and(|a| !matches!(a.s.as_slice(), b"" | b"NOTSET" | b"VALID"))
                {
                    out.insert(format!("{} (auto_pad SAME)", node.op_type));
                }
            }
            "Pad" => {
                let mode = attr("mode").map_or("constant".to_string(), |a| {
                    String::from_utf8_lossy(&a.s).into_owned()
                });
                if mode != "reflect" {
                    out.insert(format!("Pad (mode '{mode}')"));
                }
            }
            _ => {}
        }
        for a in &node.attribute {
            for g in a.g.iter().chain(&a.graphs) {
                unsupported_usage(g, out);
            }
        }
    }
}

fn ints(name: &str, values: &[i64]) -> onnx::AttributeProto {
    onnx::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> onnx::AttributeProto {
    onnx::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}
