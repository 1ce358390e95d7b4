// CMS's DeepAK8 (DeepBoostedJet V02), the boosted-jet tagger for large-radius (AK8) jets, as one
// type: a particle-level 1D CNN ("P-CNN", a pre-activation ResNet, trained with MXNet) per input
// list, then a dense classifier into 17 classes.
//
// Inputs per jet: pfcand, 100 particles x 42 features; sv, 7 secondary vertices x 15.
// Each branch: BatchNorm of the inputs; a kernel-3 convolution (42 -> 64, 15 -> 32 channels);
// pre-activation residual units in stages of two units; BatchNorm, ReLU, global average pooling.
//   pfcand stages: 64 channels stride 1 (100 particles), 64 stride 2 (-> 50), 128 stride 2 (-> 25)
//   sv stages:     32 channels stride 1 (7 vertices), 64 stride 2 (-> 4)
// The first unit of a stage, stride s:  BatchNorm, ReLU, then
//     Conv k3 stride s, BatchNorm, ReLU, Conv k3   +   shortcut Conv 1x1 stride s,
//   both reading the BatchNorm+ReLU output (MXNet's ResNet unit with dim_match=False);
// the second unit:  x + (BatchNorm, ReLU, Conv k3, BatchNorm, ReLU, Conv k3)(x).
// Every convolution has no bias and MXNet's symmetric padding (one zero row on each side of a
// kernel-3 convolution, also with stride 2; deepjet::symmetric, conv1d.hpp): with Keras's 'same'
// the stride-2 windows on 100 and 50 particles would be shifted by one row.
// Then concatenation (128 + 64 = 192), Dense 512 (with bias), ReLU, Dropout, Dense 17, softmax
// over the classes in deepak8_classes.
// 465,251 trainable parameters (convolutions 354,592: pfcand 294,784, sv 59,808; BatchNorm scales
// and offsets 3,122; Dense 98,816 and 8,721) and 3,122 BatchNorm statistics (24 BatchNorms: pfcand
// 14, sv 10), as PyTorch counts the same network (tests/test_reference_models.cpp).
//
// DropoutRate only acts in training (inference skips Dropout); 0.1 is a choice of this library, not
// read off a CMS file. DeepAK8Network<0.0f> switches the masks off for numerical comparisons.
#pragma once

#include "deepjet/layers.hpp"

#include <array>
#include <string_view>

namespace deepjet::zoo {

/// Kernel-3 convolution without bias, symmetric padding, as all of DeepAK8's.
template <std::size_t Filters, std::size_t Stride = 1>
using DeepAK8Conv = Conv1D<Filters, 3, Stride, symmetric, false>;

/// The first unit of a stage: the pre-activation is shared by the body and the 1x1 shortcut.
template <std::size_t Filters, std::size_t Stride, float Epsilon>
using DeepAK8FirstUnit =
    Stack<BatchNorm<0.1f, Epsilon>, ReLU,
          Residual<Stack<DeepAK8Conv<Filters, Stride>, BatchNorm<0.1f, Epsilon>, ReLU, DeepAK8Conv<Filters>>,
                   Conv1D<Filters, 1, Stride, valid, false>>>;

/// The other units: identity shortcut on the unit's raw input.
template <std::size_t Filters, float Epsilon>
using DeepAK8Unit = Residual<Stack<BatchNorm<0.1f, Epsilon>, ReLU, DeepAK8Conv<Filters>, BatchNorm<0.1f, Epsilon>, ReLU, DeepAK8Conv<Filters>>>;

template <float DropoutRate = 0.1f, float Epsilon = 1e-3f>
using DeepAK8Network = Sequential<
    Inputs<Shape<100, 42>, Shape<7, 15>>,
    Branches<Stack<BatchNorm<0.1f, Epsilon>, DeepAK8Conv<64>,                                  // pfcand
                   DeepAK8FirstUnit<64, 1, Epsilon>, DeepAK8Unit<64, Epsilon>,
                   DeepAK8FirstUnit<64, 2, Epsilon>, DeepAK8Unit<64, Epsilon>,
                   DeepAK8FirstUnit<128, 2, Epsilon>, DeepAK8Unit<128, Epsilon>,
                   BatchNorm<0.1f, Epsilon>, ReLU, GlobalAveragePooling>,
             Stack<BatchNorm<0.1f, Epsilon>, DeepAK8Conv<32>,                                  // sv
                   DeepAK8FirstUnit<32, 1, Epsilon>, DeepAK8Unit<32, Epsilon>,
                   DeepAK8FirstUnit<64, 2, Epsilon>, DeepAK8Unit<64, Epsilon>,
                   BatchNorm<0.1f, Epsilon>, ReLU, GlobalAveragePooling>>,
    Concatenate,
    Dense<512>, ReLU, Dropout<DropoutRate>,
    Dense<17>, Softmax>;
using DeepAK8 = DeepAK8Network<0.1f>;
/// The same network with the BatchNorm epsilon of CMS's V02 file (DeepBoostedJet/V02/full/resnet.onnx,
/// MXNet: 2e-5 in all 24 BatchNorms), for importing that file: its smallest running variances are
/// below 1e-3 - 2e-5, so the difference cannot be moved into them (matcher.hpp).
using DeepAK8V02 = DeepAK8Network<0.1f, 2e-5f>;

inline constexpr std::array<std::string_view, 2> deepak8_inputs{"pfcand", "sv"};
inline constexpr std::array<std::string_view, 17> deepak8_classes{
    "Top_bcq", "Top_bqq", "Top_bc", "Top_bq", "W_cq", "W_qq",   "Z_bb",   "Z_cc",      "Z_qq",
    "H_bb",    "H_cc",    "H_qqqq", "QCD_bb", "QCD_cc", "QCD_b", "QCD_c", "QCD_others"};

}  // namespace deepjet::zoo
