//! Load-time guards on a model's graph, the same for every engine.
//!
//! Against models that make an engine materialise a huge tensor from a few bytes:
//! `ConstantOfShape`, `Expand` or `Range` with constant arguments asking for billions of
//! elements. tract folds such constants while loading and candle allocates them on the first
//! run; an allocation that size aborts the process, which no error handling can catch. Found
//! by fuzzing model loading (issue 7; `fuzz/`, `tests/data/hostile/`).
//!
//! And against a scores output that holds no scores ([`scores_output`]): the harness reads
//! the first output (or the one the suite names) as probabilities or logits, and an engine that
//! casts an integer label to float would score the predicted labels instead.

use candle_onnx::onnx;

use crate::TensorInfo;
use std::collections::HashMap;

/// Most elements a constant-shaped operator may produce: 2^28 (1 GiB of float32), far above
/// what an image model needs.
pub const MAX_CONSTANT_ELEMENTS: u128 = 1 << 28;

/// The output that holds the scores: the one named `wanted` (the suite's `output.name`), else
/// the first; its position among the graph's outputs, its name and its declared dimensions.
///
/// Refuses a name the graph does not declare (naming those it does), and an output declared
/// with a type that holds no scores: an integer predicted label (scikit-learn's ONNX exports,
/// and some vendors', put `label` first and the probabilities second), a boolean, or a
/// sequence of maps (scikit-learn's `ZipMap`). An output with no declared type is left to the
/// engine.
pub(crate) fn scores_output(
    graph: &onnx::GraphProto,
    wanted: Option<&str>,
) -> Result<(usize, TensorInfo), String> {
    use onnx::tensor_proto::DataType;
    use onnx::type_proto::Value;
    let names = || {
        graph
            .output
            .iter()
            .map(|o| format!("'{}'", o.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (index, output) = match wanted {
        None => match graph.output.first() {
            Some(first) => (0, first),
            None => return Err("the model has no outputs".into()),
        },
        Some(name) => graph
            .output
            .iter()
            .enumerate()
            .find(|(_, o)| o.name == name)
            .ok_or_else(|| {
                format!(
                    "the output named '{name}' (a suite's output.name, bench's --output) is not an output of the model; its outputs are {}",
                    names()
                )
            })?,
    };
    let which = if wanted.is_some() {
        format!("output '{}'", output.name)
    } else {
        format!("first output '{}'", output.name)
    };
    let advice = if graph.output.len() < 2 {
        "; the harness reads probabilities or logits".to_string()
    } else {
        format!(
            "; the harness reads probabilities or logits: name the output that holds them (output = {{ ..., name = \"...\" }} in a suite, --output for bench); the model's outputs are {}",
            names()
        )
    };
    let info = |dims| TensorInfo {
        name: output.name.clone(),
        dims,
    };
    let Some(value) = output.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Ok((index, info(Vec::new())));
    };
    let Value::TensorType(tensor) = value else {
        let kind = match value {
            Value::SequenceType(_) => {
                "a sequence (scikit-learn's ZipMap writes one of maps; export with zipmap=False for a tensor)"
            }
            Value::MapType(_) => "a map",
            _ => "not a tensor",
        };
        return Err(format!(
            "the model's {which} is {kind}, not a tensor of scores{advice}"
        ));
    };
    let scores = [
        DataType::Undefined,
        DataType::Float,
        DataType::Float16,
        DataType::Double,
        DataType::Bfloat16,
    ];
    if scores.iter().any(|&t| t as i32 == tensor.elem_type) {
        return Ok((index, info(declared_dims(tensor))));
    }
    let kind = DataType::try_from(tensor.elem_type).map_or_else(
        |_| format!("type {}", tensor.elem_type),
        |t| format!("{t:?}").to_lowercase(),
    );
    Err(format!(
        "the model's {which} is {kind}, not scores (an integer output is usually a predicted class label){advice}"
    ))
}

/// A tensor's dimensions as the file declares them: `None` where symbolic (`batch_size`) or
/// left open; empty when the file gives no shape (rank unknown).
pub(crate) fn declared_dims(tensor: &onnx::type_proto::Tensor) -> Vec<Option<usize>> {
    use onnx::tensor_shape_proto::dimension;
    tensor
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(dimension::Value::DimValue(v)) => usize::try_from(v).ok(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Refuses a graph (or subgraph) whose constant-shaped operators would produce more than
/// [`MAX_CONSTANT_ELEMENTS`] elements, naming the node.
pub(crate) fn check_graph(graph: &onnx::GraphProto) -> Result<(), String> {
    check(graph, &mut HashMap::new())
}

fn check<'g>(
    graph: &'g onnx::GraphProto,
    consts: &mut HashMap<&'g str, &'g onnx::TensorProto>,
) -> Result<(), String> {
    for t in &graph.initializer {
        consts.insert(&t.name, t);
    }
    for node in &graph.node {
        if node.op_type == "Constant"
            && let (Some(t), Some(out)) = (
                node.attribute
                    .iter()
                    .find(|a| a.name == "value")
                    .and_then(|a| a.t.as_ref()),
                node.output.first(),
            )
        {
            consts.insert(out, t);
        }
        let arg = |i: usize| {
            node.input
                .get(i)
                .and_then(|n| consts.get(n.as_str()).copied())
        };
        let elements = match node.op_type.as_str() {
            "ConstantOfShape" => arg(0).and_then(values).map(|v| product(&v)),
            "Expand" => arg(1).and_then(values).map(|v| product(&v)),
            "Range" => match (
                arg(0).and_then(values),
                arg(1).and_then(values),
                arg(2).and_then(values),
            ) {
                (Some(s), Some(l), Some(d)) if s.len() == 1 && l.len() == 1 && d.len() == 1 => {
                    Some(range_len(s[0], l[0], d[0]))
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(n) = elements.filter(|&n| n > MAX_CONSTANT_ELEMENTS) {
            let name = if node.name.is_empty() {
                node.output.first().cloned().unwrap_or_default()
            } else {
                node.name.clone()
            };
            return Err(format!(
                "{} node '{name}' would produce {} elements from constant arguments (more than the {} allowed); refused before the engine allocates it",
                node.op_type,
                if n == u128::MAX {
                    "an unbounded number of".to_string()
                } else {
                    n.to_string()
                },
                MAX_CONSTANT_ELEMENTS
            ));
        }
        for a in &node.attribute {
            for g in a.g.iter().chain(&a.graphs) {
                check(g, consts)?;
            }
        }
    }
    Ok(())
}

/// The values of a small constant tensor as f64 (integers and floats), `None` for other types.
fn values(t: &onnx::TensorProto) -> Option<Vec<f64>> {
    const FLOAT: i32 = 1;
    const INT32: i32 = 6;
    const INT64: i32 = 7;
    const DOUBLE: i32 = 11;
    let raw = |width: usize, f: fn(&[u8]) -> f64| {
        t.raw_data.chunks_exact(width).map(f).collect::<Vec<f64>>()
    };
    let v = match t.data_type {
        INT64 if !t.int64_data.is_empty() => t.int64_data.iter().map(|&x| x as f64).collect(),
        INT64 => raw(8, |b| {
            i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64
        }),
        INT32 if !t.int32_data.is_empty() => t.int32_data.iter().map(|&x| x as f64).collect(),
        INT32 => raw(4, |b| {
            i32::from_le_bytes(b.try_into().expect("4 bytes")) as f64
        }),
        FLOAT if !t.float_data.is_empty() => t.float_data.iter().map(|&x| x as f64).collect(),
        FLOAT => raw(4, |b| {
            f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64
        }),
        DOUBLE if !t.double_data.is_empty() => t.double_data.clone(),
        DOUBLE => raw(8, |b| f64::from_le_bytes(b.try_into().expect("8 bytes"))),
        _ => return None,
    };
    Some(v)
}

/// Product of shape entries (negative or non-finite entries count as 0: the engine rejects them).
fn product(dims: &[f64]) -> u128 {
    dims.iter().fold(1u128, |p, &d| {
        if d.is_finite() && d > 0.0 {
            p.saturating_mul(d.min(u128::MAX as f64) as u128)
        } else {
            0
        }
    })
}

/// Number of elements `Range(start, limit, delta)` produces: max(ceil((limit − start)/delta), 0);
/// unbounded for a zero or non-finite step.
fn range_len(start: f64, limit: f64, delta: f64) -> u128 {
    let n = ((limit - start) / delta).ceil();
    if delta == 0.0 || !n.is_finite() {
        return if limit == start { 0 } else { u128::MAX };
    }
    if n <= 0.0 {
        0
    } else {
        n.min(u128::MAX as f64) as u128
    }
}

/// Decodes an ONNX `ModelProto` from the bytes of a model file.
pub(crate) fn decode_model(bytes: &[u8]) -> Result<onnx::ModelProto, String> {
    use prost::Message;
    onnx::ModelProto::decode(bytes).map_err(|e| format!("not a valid ONNX model: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_of_constant_shaped_operators() {
        assert_eq!(product(&[2.0, 3.0, 4.0]), 24);
        assert_eq!(product(&[1e30, 1e30]), u128::MAX); // saturates
        assert_eq!(product(&[-1.0, 5.0]), 0);
        assert_eq!(range_len(0.0, 10.0, 3.0), 4);
        assert_eq!(range_len(10.0, 0.0, 1.0), 0);
        assert_eq!(range_len(0.0, 1.0, 0.0), u128::MAX);
        assert_eq!(range_len(0.0, 1e12, 1.0), 1_000_000_000_000);
    }
}
