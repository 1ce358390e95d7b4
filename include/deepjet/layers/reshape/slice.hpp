// deepjet/layers/reshape/slice.hpp: a range of the features, the inverse of Concatenate.
//
// Spec: Slice<Begin, End>, for a flat input Shape<F> or a list Shape<P, F> with Begin < End <= F;
// gives SliceLayer<S, Begin, End> with output Shape<End - Begin> (or Shape<P, End - Begin>): the
// features [Begin, End) of every row, in order (Keras's x[..., Begin:End], PyTorch's
// x[..., Begin:End]).
// Why: Concatenate joins parts, Parallel (Heads) runs several stacks on ONE input; together with
// Slice they express a graph where a head reads some of the joined parts but not all, e.g. the
// Run-2 DeepJet, whose classifier reads the four particle/global blocks and whose regression head
// reads the classifier's output and the normalised jet pT (deepjet/zoo/deepjet.hpp).
// No parameters. Backward: the input gradient is the output gradient in columns [Begin, End) and
// zero elsewhere (it is written whole, as Parallel's first stack must).
#pragma once

#include "deepjet/layers/layer.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace deepjet {

template <ShapeType S, std::size_t Begin, std::size_t End>
struct SliceLayer : LeafLayer<SliceLayer<S, Begin, End>> {
  static_assert(S::rank == 1 || S::rank == 2, "deepjet::Slice takes a flat input or a particle list");
  static_assert(Begin < End && End <= S::features,
                "deepjet::Slice<Begin, End> needs Begin < End <= the input's number of features");
  static constexpr std::size_t rows = S::size / S::features;  // 1 for a flat input
  static constexpr std::size_t width = End - Begin;

  using input_shape = S;
  using output_shape = std::conditional_t<S::rank == 1, Shape<width>, Shape<rows, width>>;
  static constexpr std::string_view kind = "Slice";
  static constexpr std::array<ParameterSpec, 0> parameters{};
  static constexpr std::size_t parameter_count = 0;

  static std::string options() { return "features " + std::to_string(Begin) + " to " + std::to_string(End); }

  static void infer(const float*, ConstBatch<S> in, Batch<output_shape> out, float*) {
    const std::size_t total_rows = in.count * rows;
    for (std::size_t r = 0; r < total_rows; ++r)
      std::memcpy(out.data + r * width, in.data + r * S::features + Begin, width * sizeof(float));
  }
  void forward(TrainingContext&, float*, ConstBatch<S> in, Batch<output_shape> out) { infer(nullptr, in, out, nullptr); }
  void backward(const float*, float*, ConstBatch<S>, ConstBatch<output_shape>, ConstBatch<output_shape> dout,
                Batch<S> din) {
    if (!din.data) return;
    std::fill(din.data, din.data + din.size(), 0.0f);
    const std::size_t total_rows = din.count * rows;
    for (std::size_t r = 0; r < total_rows; ++r)
      std::memcpy(din.data + r * S::features + Begin, dout.data + r * width, width * sizeof(float));
  }
};

/// Features [Begin, End) of every row (see the top of this file).
template <std::size_t Begin, std::size_t End>
struct Slice {
  template <ShapeType In>
  using bind = SliceLayer<In, Begin, End>;
};

}  // namespace deepjet
