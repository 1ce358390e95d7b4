#include <deepjet/deepjet.hpp>

#include <cstdio>

using Net = deepjet::Sequential<deepjet::Input<2>, deepjet::Dense<4>, deepjet::ReLU, deepjet::Dense<1>, deepjet::Sigmoid>;

int main() {
  deepjet::Model<Net> model(1);
  xt::xtensor<float, 2> x = {{0.0f, 1.0f}, {1.0f, 0.0f}};
  const auto y = model.predict(x);
  std::printf("consumer: deepjet %s, %zu parameters, p = %.3f %.3f\n", deepjet::version, model.parameter_count,
              static_cast<double>(y(0, 0)), static_cast<double>(y(1, 0)));
  return y(0, 0) > 0.0f && y(0, 0) < 1.0f ? 0 : 1;
}
