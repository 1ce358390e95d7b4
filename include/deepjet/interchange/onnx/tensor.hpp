// deepjet/interchange/onnx/tensor.hpp: ONNX constant tensors, read out of their protobuf form.
//
// Contract: `read_tensor` turns an onnx::TensorProto (an initializer, or a Constant node's value)
// into a Tensor: its dimensions and its values, either as doubles (float, double, float16 is
// refused) or as 64-bit integers (int8 ... int64, bool). Values stored in a separate file
// (external data) are refused: the importer reads one file. Every problem throws deepjet::Error
// naming the tensor; the caller prefixes the file.
// Integer tensors may hold `batch_dimension`, the stand-in for the batch size N (unknown until run
// time) that the importer writes for Shape of a data tensor, so that the PyTorch exporter's
// Shape -> Gather -> Unsqueeze -> Concat -> ConstantOfShape chain that builds the zero initial
// LSTM state folds to "zeros of shape [1, N, H]".
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/interchange/graph/layer_graph.hpp"

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace deepjet::onnx::import_detail {

using interchange::number_text;

/// Stands for the batch size N inside integer tensors (shapes computed in the graph).
inline constexpr std::int64_t batch_dimension = std::numeric_limits<std::int64_t>::min();

/// A constant: dimensions and values (row-major), real or integer.
struct Tensor {
  std::vector<std::int64_t> dims;
  bool integer = false;
  std::vector<double> reals;         ///< when !integer
  std::vector<std::int64_t> integers;  ///< when integer

  std::size_t size() const { return integer ? integers.size() : reals.size(); }
  double real(std::size_t i) const { return integer ? static_cast<double>(integers[i]) : reals[i]; }
  std::int64_t int_at(std::size_t i) const { return integer ? integers[i] : static_cast<std::int64_t>(reals[i]); }
  std::vector<float> floats() const {
    std::vector<float> out(size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(real(i));
    return out;
  }
  bool has_batch_dimension() const {
    if (!integer) return false;
    for (auto v : integers)
      if (v == batch_dimension) return true;
    return false;
  }
};

inline std::string dims_text(const std::vector<std::int64_t>& dims) {
  std::string text = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) text += ", ";
    text += dims[i] == batch_dimension ? std::string("N") : std::to_string(dims[i]);
  }
  return text + "]";
}

/// The most values one constant may hold: 2^26 (64 Mi, 512 MiB as doubles), hundreds of times the
/// largest constant of a jet-tagging network, so that absurd dimensions in a damaged or hostile
/// file end in an error rather than a wrapped-around count or an allocation of terabytes.
inline constexpr std::size_t max_constant_elements = std::size_t{1} << 26;

/// The number of values of a constant of dimensions `dims`; throws deepjet::Error naming `what`
/// for a negative dimension or more than max_constant_elements values (checked before multiplying
/// further, so the product cannot wrap around).
inline std::size_t element_count(const std::vector<std::int64_t>& dims, const std::string& what) {
  std::size_t n = 1;
  for (auto d : dims) {
    if (d < 0) throw Error(what + " has a negative dimension in " + dims_text(dims));
    // Each dimension is bounded too: with a zero elsewhere the count stays small, but a consumer
    // that allocates rows x columns from two of the dimensions must not be handed 10^12.
    if (static_cast<std::size_t>(d) > max_constant_elements || (d != 0 && n > max_constant_elements / static_cast<std::size_t>(d)))
      throw Error(what + " has dimensions " + dims_text(dims) + ", more than the " + std::to_string(max_constant_elements) +
                  " values deepjet accepts in one constant (a damaged file?)");
    n *= static_cast<std::size_t>(d);
  }
  return n;
}

inline Tensor read_tensor(const ::onnx::TensorProto& proto, const std::string& what) {
  using TP = ::onnx::TensorProto;
  Tensor t;
  for (auto d : proto.dims()) {
    if (d < 0) throw Error(what + " has a negative dimension");
    t.dims.push_back(d);
  }
  if (proto.data_location() == TP::EXTERNAL)
    throw Error(what + " keeps its values in an external file; deepjet reads self-contained ONNX files "
                       "(re-save the model with onnx.save(model, path, save_as_external_data=False))");
  const std::size_t n = element_count(t.dims, what);
  const std::string& raw = proto.raw_data();
  auto from_raw = [&](auto sample, auto&& store) {
    using T = decltype(sample);
    if (raw.size() != n * sizeof(T))
      throw Error(what + " holds " + std::to_string(raw.size()) + " bytes of data for " + std::to_string(n) +
                  " values of " + std::to_string(sizeof(T)) + " bytes");
    for (std::size_t i = 0; i < n; ++i) {
      T value;
      std::memcpy(&value, raw.data() + i * sizeof(T), sizeof(T));  // ONNX stores little-endian, as x86-64
      store(value);
    }
  };
  auto check_count = [&](std::size_t stored) {
    if (stored != n)
      throw Error(what + " holds " + std::to_string(stored) + " values for its shape " + dims_text(t.dims) + " (" +
                  std::to_string(n) + ")");
  };
  switch (proto.data_type()) {
    case TP::FLOAT:
      if (!raw.empty()) from_raw(float{}, [&](float v) { t.reals.push_back(v); });
      else {
        check_count(static_cast<std::size_t>(proto.float_data_size()));
        t.reals.assign(proto.float_data().begin(), proto.float_data().end());
      }
      break;
    case TP::DOUBLE:
      if (!raw.empty()) from_raw(double{}, [&](double v) { t.reals.push_back(v); });
      else {
        check_count(static_cast<std::size_t>(proto.double_data_size()));
        t.reals.assign(proto.double_data().begin(), proto.double_data().end());
      }
      break;
    case TP::INT64:
      t.integer = true;
      if (!raw.empty()) from_raw(std::int64_t{}, [&](std::int64_t v) { t.integers.push_back(v); });
      else {
        check_count(static_cast<std::size_t>(proto.int64_data_size()));
        t.integers.assign(proto.int64_data().begin(), proto.int64_data().end());
      }
      break;
    case TP::INT32:
    case TP::INT16:
    case TP::INT8:
    case TP::UINT8:
    case TP::UINT16:
    case TP::BOOL:
      t.integer = true;
      if (!raw.empty()) {
        switch (proto.data_type()) {
          case TP::INT32: from_raw(std::int32_t{}, [&](std::int32_t v) { t.integers.push_back(v); }); break;
          case TP::INT16: from_raw(std::int16_t{}, [&](std::int16_t v) { t.integers.push_back(v); }); break;
          case TP::UINT16: from_raw(std::uint16_t{}, [&](std::uint16_t v) { t.integers.push_back(v); }); break;
          case TP::INT8: from_raw(std::int8_t{}, [&](std::int8_t v) { t.integers.push_back(v); }); break;
          default: from_raw(std::uint8_t{}, [&](std::uint8_t v) { t.integers.push_back(v); }); break;
        }
      } else {
        check_count(static_cast<std::size_t>(proto.int32_data_size()));
        t.integers.assign(proto.int32_data().begin(), proto.int32_data().end());
      }
      break;
    default:
      throw Error(what + " has ONNX element type " + std::to_string(proto.data_type()) +
                  "; deepjet reads float, double and integer tensors");
  }
  return t;
}

}  // namespace deepjet::onnx::import_detail
