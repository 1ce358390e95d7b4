// SpatialDropout (Keras's SpatialDropout1D): whole feature channels of a sample are dropped in
// training, nothing changes at inference, and a Sequential skips it at inference like Dropout.
#include <deepjet/deepjet.hpp>

#include "support/fixtures.hpp"
#include "support/gradient_check.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using deepjet::Shape;
using Spatial = deepjet::SpatialDropoutLayer<Shape<40, 25>, 0.3f>;

std::vector<float> positive_input(std::size_t n) {
  deepjet::Random random(4);
  std::vector<float> x(n);
  for (float& v : x) v = random.uniform(0.5f, 1.5f);  // never zero: a zero output means dropped
  return x;
}

}  // namespace

TEST(SpatialDropout, DropsWholeChannelsAndScalesTheRest) {
  const std::size_t count = 64;
  const auto x = positive_input(Shape<40, 25>::size * count);
  Spatial layer;
  deepjet::TrainingContext context;
  context.random.reseed(3);
  std::vector<float> y(x.size()), dy(x.size()), dx(x.size());
  for (std::size_t i = 0; i < dy.size(); ++i) dy[i] = 0.5f + static_cast<float>(i % 5);
  layer.forward(context, nullptr, {x.data(), count}, {y.data(), count});
  layer.backward(nullptr, nullptr, {x.data(), count}, {y.data(), count}, {dy.data(), count}, {dx.data(), count});
  std::size_t dropped_channels = 0;
  for (std::size_t b = 0; b < count; ++b) {
    for (std::size_t f = 0; f < 25; ++f) {
      const bool dropped = y[(b * 40) * 25 + f] == 0.0f;
      dropped_channels += dropped;
      for (std::size_t p = 0; p < 40; ++p) {
        const std::size_t i = (b * 40 + p) * 25 + f;
        // Every entry of a channel shares its fate; kept values are x times the one float
        // keep_scale (a single rounding, the same in forward and backward: exact equality holds).
        if (dropped) {
          EXPECT_EQ(y[i], 0.0f) << b << " " << p << " " << f;
          EXPECT_EQ(dx[i], 0.0f);
        } else {
          EXPECT_EQ(y[i], x[i] * Spatial::keep_scale);
          EXPECT_EQ(dx[i], dy[i] * Spatial::keep_scale);
        }
      }
    }
  }
  // 1600 channels, p = 0.3: standard deviation of the fraction 0.0115; allow 4 of them.
  EXPECT_NEAR(static_cast<double>(dropped_channels) / (count * 25), 0.3, 0.046);
}

TEST(SpatialDropout, InferenceIsTheIdentityAndSequentialSkipsIt) {
  const auto x = positive_input(Shape<40, 25>::size * 2);
  std::vector<float> y(x.size());
  Spatial::infer(nullptr, {x.data(), 2}, {y.data(), 2}, nullptr);
  EXPECT_EQ(y, x);
  // Inside a model: the same outputs with and without it at inference (the same kernels run).
  using With = deepjet::Sequential<deepjet::Input<40, 25>, deepjet::Conv1D<8>, deepjet::ReLU,
                                   deepjet::SpatialDropout<0.2f>, deepjet::Flatten, deepjet::Dense<3>>;
  using Without = deepjet::Sequential<deepjet::Input<40, 25>, deepjet::Conv1D<8>, deepjet::ReLU, deepjet::Flatten,
                                      deepjet::Dense<3>>;
  static_assert(With::parameter_count == Without::parameter_count);
  deepjet::Model<With> with(7);
  deepjet::Model<Without> without(7);
  std::copy(with.parameters().begin(), with.parameters().end(), without.parameters().begin());
  xt::xtensor<float, 3> input = xt::empty<float>({std::size_t{2}, std::size_t{40}, std::size_t{25}});
  std::copy(x.begin(), x.end(), input.begin());
  EXPECT_EQ(with.predict(input), without.predict(input));
  EXPECT_NE(with.architecture().signature().find("SpatialDropout (40, 8) -> (40, 8)"), std::string::npos);
}

TEST(SpatialDropout, GradientCheck) {
  // Finite differences with a fresh layer (the same seed, hence the same mask) per evaluation.
  deepjet::test::check_layer_gradients<deepjet::SpatialDropoutLayer<Shape<6, 5>, 0.3f>>({.batch = 4});
}
