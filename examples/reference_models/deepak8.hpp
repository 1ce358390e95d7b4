// The boosted-jet particle CNN (DeepAK8-style P-CNN), as described in the reference: per branch a
// pre-activation ResNet of kernel-3 convolutions over the particle list, then global average
// pooling; the branches are concatenated and classified by Dense 512 (ReLU, dropout 0.2) into five
// classes (QCD/light, W, Z, H, top).
//
// Inputs per large-radius jet: up to 100 particles x 40 features, up to 7 secondary vertices x 15.
// A unit is BatchNorm -> ReLU -> Conv1D(kernel 3, 'same') plus a shortcut: the identity where the
// width stays, a 1x1 convolution where it changes. Branch widths: particles 32-64-64-128,
// vertices 32-32-64; each branch starts with a BatchNorm of its inputs and ends with BatchNorm ->
// ReLU -> GlobalAveragePooling.
#pragma once

#include <deepjet/deepjet.hpp>

#include <array>
#include <string_view>

namespace deepjet::reference {

/// One pre-activation residual unit of `Filters` channels; the shortcut follows the width.
template <std::size_t Filters>
struct ResidualUnit {
  using Body = Stack<BatchNorm<>, ReLU, Conv1D<Filters, 3, 1, same>>;
  template <class In>
  using bind = bind_t<std::conditional_t<In::features == Filters, Residual<Body, Identity>, Residual<Body, Conv1D<Filters>>>, In>;
};

template <float DropoutRate = 0.2f>
using ParticleCNNNetwork = Sequential<
    Inputs<Shape<100, 40>, Shape<7, 15>>,
    Branches<Stack<BatchNorm<>, ResidualUnit<32>, ResidualUnit<64>, ResidualUnit<64>, ResidualUnit<128>,
                   BatchNorm<>, ReLU, GlobalAveragePooling>,
             Stack<BatchNorm<>, ResidualUnit<32>, ResidualUnit<32>, ResidualUnit<64>,
                   BatchNorm<>, ReLU, GlobalAveragePooling>>,
    Concatenate,
    Dense<512>, ReLU, Dropout<DropoutRate>,
    Dense<5>, Softmax>;
using ParticleCNN = ParticleCNNNetwork<0.2f>;

inline constexpr std::array<std::string_view, 5> particle_cnn_classes{"qcd", "w", "z", "h", "top"};

}  // namespace deepjet::reference
