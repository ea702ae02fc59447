//! Inference backends (tract, ONNX Runtime, candle) behind one trait, with preprocessing declared as data and cross-backend agreement.
