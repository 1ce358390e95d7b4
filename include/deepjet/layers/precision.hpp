// deepjet/layers/precision.hpp: the number format inference runs its matrix products in.
//
//   Precision::float32   the default: every layer in float32 (the figures of docs/performance.md)
//   Precision::bfloat16  opt-in, inference only (Predictor<Net, Precision::bfloat16>): Dense and
//                        pointwise Conv1D multiply bfloat16 weights (converted once, when the
//                        Predictor packs them) by their input rounded to bfloat16, summing in
//                        float32 (kernels/gemm_bf16.hpp). Every other layer runs in float32: the
//                        recurrent layers (LSTM, GRU), Conv1D with kernel > 1, and the layers without
//                        a matrix product (activations, BatchNorm, merges...).
//
// A layer takes part in bfloat16 by two optional static members (layers/layer.hpp lists the rest):
//   L::pack_bf16(packed)                 converts its packed float32 parameters in place into the
//                                        layout infer_bf16 reads (no larger than the float layout)
//   L::infer_bf16(packed, in, out, scratch)
//                                        inference on that layout; same scratch as infer
// Composites (Sequential, Branches, Parallel) provide both by passing them on to their children.
// A layer without them runs its float32 `infer` on its float32 parameters: that fallback is what
// makes every network valid at every precision (docs/performance.md lists the fallbacks).
#pragma once

#include "deepjet/core/batch.hpp"

#include <cstddef>

namespace deepjet {

enum class Precision { float32, bfloat16 };

/// Layers with their own bfloat16 path.
template <class L>
concept HasBFloat16Path = requires(float* packed, const float* const_packed, float* scratch,
                                   ConstBatch<typename L::input_shape> in, Batch<typename L::output_shape> out) {
  L::pack_bf16(packed);
  L::infer_bf16(const_packed, in, out, scratch);
};

/// Converts L's packed float32 parameters for inference at precision P (nothing for float32 and
/// for layers that run in float32 anyway).
template <Precision P, class L>
void pack_for_precision(float* packed) {
  if constexpr (P == Precision::bfloat16 && HasBFloat16Path<L>) L::pack_bf16(packed);
}

/// L's inference at precision P: its bfloat16 path when it has one, else its float32 infer.
template <Precision P, class L>
void infer_at(const float* packed, ConstBatch<typename L::input_shape> in, Batch<typename L::output_shape> out,
              float* scratch) {
  if constexpr (P == Precision::bfloat16 && HasBFloat16Path<L>) L::infer_bf16(packed, in, out, scratch);
  else L::infer(packed, in, out, scratch);
}

}  // namespace deepjet
