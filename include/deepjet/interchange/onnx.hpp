// deepjet/interchange/onnx.hpp: ONNX interchange (needs libonnx-dev and protobuf; link deepjet::onnx).
//
//   deepjet::onnx::import_model<Net>(path[, options])      -> Model<Net>      (onnx/reader.hpp)
//   deepjet::onnx::import_predictor<Net>(path[, options])  -> Predictor<Net>
//   deepjet::onnx::export_model(model_or_predictor, path[, options])        (onnx/writer.hpp)
// docs/interchange-onnx.md describes what each exporter writes, how layouts map and what is refused;
// docs/interchange-onnx-export.md what deepjet writes.
#pragma once

#include "deepjet/interchange/onnx/reader.hpp"
#include "deepjet/interchange/onnx/writer.hpp"
