// deepjet/layers/merge/merge.hpp: joining parts (Shapes<...>) back into one shape, and Identity.
//
//   Concatenate   Shapes<A, B, ...> -> one shape with the parts' last dimensions side by side.
//                 Flat parts: Shape<a>, Shape<b> -> Shape<a + b> (DeepJet's 15 + 150 + 50 + 50).
//                 Lists with the same number of entries: Shape<P, f>, Shape<P, g> -> Shape<P, f + g>.
//   Add           Shapes<S, S, ...> -> S, the element-wise sum (residual connections).
//   Identity      S -> S, a copy (the shortcut of a residual block whose width does not change).
// No parameters. (Residual<Block, Shortcut>, built from Parallel and Add, is in models/branches.hpp.)
#pragma once

#include "deepjet/layers/layer.hpp"

#include <algorithm>
#include <cstring>

namespace deepjet {

template <class In>
struct ConcatenateLayer;

template <ShapeType... Parts>
struct ConcatenateLayer<Shapes<Parts...>> : LeafLayer<ConcatenateLayer<Shapes<Parts...>>> {
  using First = typename Shapes<Parts...>::template part<0>;
  static_assert(((Parts::rank == First::rank) && ...),
                "deepjet::Concatenate joins parts of the same rank: all flat, or all lists");
  static constexpr std::size_t rows = First::size / First::features;  // 1 for flat parts
  static_assert(((Parts::size / Parts::features == rows) && ...),
                "deepjet::Concatenate joins lists along their features, so they need the same number of "
                "entries; flatten or pool them (Flatten, GlobalAveragePooling, an LSTM) first");
  static constexpr std::size_t features = (Parts::features + ...);

  using input_shape = Shapes<Parts...>;
  using output_shape = std::conditional_t<First::rank == 1, Shape<features>, Shape<rows, features>>;
  static constexpr std::string_view kind = "Concatenate";
  static constexpr std::array<ParameterSpec, 0> parameters{};
  static constexpr std::size_t parameter_count = 0;
  static constexpr std::array<std::size_t, sizeof...(Parts)> part_features{Parts::features...};

  static void infer(const float*, ConstBatch<input_shape> in, Batch<output_shape> out, float*) {
    std::size_t column = 0;
    std::apply([&](const auto&... part) { (copy_in(part, out, column), ...); }, in.parts);
  }
  void forward(TrainingContext&, float*, ConstBatch<input_shape> in, Batch<output_shape> out) { infer(nullptr, in, out, nullptr); }
  void backward(const float*, float*, ConstBatch<input_shape>, ConstBatch<output_shape>,
                ConstBatch<output_shape> dout, Batch<input_shape> din) {
    std::size_t column = 0;
    std::apply([&](const auto&... part) { (copy_out(dout, part, column), ...); }, din.parts);
  }

 private:
  template <class PartView>
  static void copy_in(const PartView& part, Batch<output_shape> out, std::size_t& column) {
    constexpr std::size_t f = PartView::shape::features;
    const std::size_t total_rows = out.count * rows;
    for (std::size_t r = 0; r < total_rows; ++r)
      std::memcpy(out.data + r * features + column, part.data + r * f, f * sizeof(float));
    column += f;
  }
  template <class PartView>
  static void copy_out(ConstBatch<output_shape> dout, const PartView& part, std::size_t& column) {
    constexpr std::size_t f = PartView::shape::features;
    if (part.data) {
      const std::size_t total_rows = dout.count * rows;
      for (std::size_t r = 0; r < total_rows; ++r)
        std::memcpy(part.data + r * f, dout.data + r * features + column, f * sizeof(float));
    }
    column += f;
  }
};

struct Concatenate {
  template <class In>
  struct binder {
    static_assert(ShapesType<In>, "deepjet::Concatenate joins several parts (after Branches or Parallel); "
                                  "this input is a single shape");
    using type = ConcatenateLayer<In>;
  };
  template <class In>
  using bind = typename binder<In>::type;
};

template <class In>
struct AddLayer;

template <ShapeType S, ShapeType... Rest>
struct AddLayer<Shapes<S, Rest...>> : LeafLayer<AddLayer<Shapes<S, Rest...>>> {
  static_assert((std::is_same_v<S, Rest> && ...),
                "deepjet::Add sums parts of the same shape; give the shortcut a 1x1 Conv1D (or Dense) "
                "when the block changes the width");
  using input_shape = Shapes<S, Rest...>;
  using output_shape = S;
  static constexpr std::string_view kind = "Add";
  static constexpr std::array<ParameterSpec, 0> parameters{};
  static constexpr std::size_t parameter_count = 0;

  static void infer(const float*, ConstBatch<input_shape> in, Batch<S> out, float*) {
    std::copy_n(in.template part<0>().data, out.size(), out.data);
    std::apply([&](const auto&, const auto&... rest) {
      (add_into(rest, out), ...);
    }, in.parts);
  }
  void forward(TrainingContext&, float*, ConstBatch<input_shape> in, Batch<S> out) { infer(nullptr, in, out, nullptr); }
  void backward(const float*, float*, ConstBatch<input_shape>, ConstBatch<S>, ConstBatch<S> dout, Batch<input_shape> din) {
    std::apply([&](const auto&... part) {
      ((part.data ? (void)std::copy_n(dout.data, dout.size(), part.data) : (void)0), ...);
    }, din.parts);
  }

 private:
  template <class PartView>
  static void add_into(const PartView& part, Batch<S> out) {
    for (std::size_t i = 0; i < out.size(); ++i) out.data[i] += part.data[i];
  }
};

struct Add {
  template <class In>
  struct binder {
    static_assert(ShapesType<In>, "deepjet::Add sums several parts (after Parallel); this input is a single shape");
    using type = AddLayer<In>;
  };
  template <class In>
  using bind = typename binder<In>::type;
};

template <ShapeType S>
struct IdentityLayer : LeafLayer<IdentityLayer<S>> {
  using input_shape = S;
  using output_shape = S;
  static constexpr std::string_view kind = "Identity";
  static constexpr std::array<ParameterSpec, 0> parameters{};
  static constexpr std::size_t parameter_count = 0;
  static constexpr bool identity_at_inference = true;  ///< skipped inside a Sequential

  static void infer(const float*, ConstBatch<S> in, Batch<S> out, float*) { std::copy_n(in.data, in.size(), out.data); }
  void forward(TrainingContext&, float*, ConstBatch<S> in, Batch<S> out) { infer(nullptr, in, out, nullptr); }
  void backward(const float*, float*, ConstBatch<S>, ConstBatch<S>, ConstBatch<S> dout, Batch<S> din) {
    if (din.data) std::copy_n(dout.data, dout.size(), din.data);
  }
};

struct Identity {
  template <ShapeType In>
  using bind = IdentityLayer<In>;
};

}  // namespace deepjet
