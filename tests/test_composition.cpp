// Multi-input and multi-output composition: Branches, Parallel/Heads, Concatenate, Add, Residual,
// weighted losses; gradient checks, PyTorch agreement, the tuple API and its errors.
#include "support/fixtures.hpp"
#include "support/gradient_check.hpp"

#include <deepjet/deepjet.hpp>

#include <gtest/gtest.h>
#include <xtensor/xview.hpp>

namespace {

using namespace deepjet;
using deepjet::test::check_layer_gradients;
using deepjet::test::expect_close;
using deepjet::test::foundation_fixtures;

using TwoBlocks = Sequential<Inputs<Shape<3>, Shape<5>>,
                             Branches<Stack<Dense<4>, Tanh>, Stack<Dense<2>, Sigmoid>>,
                             Concatenate, Dense<3>, Softmax>;

TEST(Composition, ShapesFlowThroughBranchesAndConcatenate) {
  static_assert(std::is_same_v<TwoBlocks::layer_type<0>::output_shape, Shapes<Shape<4>, Shape<2>>>);
  static_assert(std::is_same_v<TwoBlocks::layer_type<1>::output_shape, Shape<6>>);
  static_assert(TwoBlocks::parameter_count == (3 * 4 + 4) + (5 * 2 + 2) + (6 * 3 + 3));
  using Lists = Sequential<Inputs<Shape<2, 3>, Shape<2, 4>>, Concatenate>;
  static_assert(std::is_same_v<Lists::output_shape, Shape<2, 7>>);
  static_assert(Layer<TwoBlocks>);
}

TEST(GradientCheck, BranchesAndConcatenate) { check_layer_gradients<TwoBlocks>({.batch = 3}); }
TEST(GradientCheck, ConcatenateLists) {
  check_layer_gradients<Sequential<Inputs<Shape<2, 3>, Shape<2, 4>>, Concatenate, Tanh>>();
}
TEST(GradientCheck, ResidualBlocks) {
  check_layer_gradients<Sequential<Input<5>, Residual<Stack<Dense<5>, Tanh>>, Residual<Dense<3>, Dense<3>>, Sigmoid>>();
}
TEST(GradientCheck, HeadsGiveSeveralOutputs) {
  check_layer_gradients<Sequential<Input<4>, Dense<6>, Tanh, Heads<Stack<Dense<3>, Softmax>, Dense<1>>>>();
}

using TwoHeads = Sequential<Inputs<Shape<3>, Shape<8>>,
                            Branches<Stack<Dense<4>, Tanh>, Identity>,
                            Concatenate, Dense<5>, Tanh,
                            Residual<Dense<5>>,
                            Heads<Stack<Dense<3>, Softmax>, Dense<1>>>;

// deepjet's tensor name for each torch module of the fixture.
const std::pair<const char*, const char*> two_heads_names[] = {
    {"g", "0.0.0"}, {"trunk", "2"}, {"res", "4.0.0"}, {"cls", "5.0.0"}, {"reg", "5.1"}};

TEST(PyTorchAgreement, TwoInputsTwoHeadsWithWeightedLosses) {
  const auto& f = foundation_fixtures();
  Model<TwoHeads> model;
  for (const auto& [torch_name, path] : two_heads_names) {
    const auto w = f[std::string("two.") + torch_name + ".weight"].values;
    const auto b = f[std::string("two.") + torch_name + ".bias"].values;
    std::copy(w.begin(), w.end(), model.parameter(std::string(path) + ".weight").begin());
    std::copy(b.begin(), b.end(), model.parameter(std::string(path) + ".bias").begin());
  }
  auto tensor = [&](const std::string& name, std::size_t columns) {
    xt::xtensor<float, 2> t = xt::empty<float>({std::size_t{6}, columns});
    std::copy(f[name].values.begin(), f[name].values.end(), t.begin());
    return t;
  };
  const auto x = std::make_tuple(tensor("two.xg", 3), tensor("two.xl", 8));
  const auto [p_cls, p_reg] = model.predict(x);
  expect_close(std::vector<float>(p_cls.begin(), p_cls.end()), f["two.p_cls"].values, 1e-5, 1e-3, "class probabilities");
  expect_close(std::vector<float>(p_reg.begin(), p_reg.end()), f["two.p_reg"].values, 1e-5, 1e-3, "regression output");

  const auto target = std::make_tuple(tensor("two.t_cls", 3), tensor("two.t_reg", 1));
  xt::xtensor<float, 1> weights = xt::empty<float>({std::size_t{6}});
  std::copy(f["two.w"].values.begin(), f["two.w"].values.end(), weights.begin());
  Losses<CategoricalCrossEntropy, MeanSquaredError> loss{.weights = {1.0, 0.5}};
  SGD no_step{.learning_rate = 0.0};  // gradients only
  const double value = model.train_step(x, target, &weights, loss, no_step);
  EXPECT_NEAR(value, f["two.loss"].values[0], 1e-5 * f["two.loss"].values[0]);
  for (const auto& [torch_name, path] : two_heads_names) {
    expect_close(model.gradient(std::string(path) + ".weight"), f[std::string("two.") + torch_name + ".dweight"].values,
                 1e-4, 1e-4, std::string("dW ") + torch_name);
    expect_close(model.gradient(std::string(path) + ".bias"), f[std::string("two.") + torch_name + ".dbias"].values,
                 1e-4, 1e-4, std::string("db ") + torch_name);
  }
}

TEST(Composition, NestedLayersAreNamedByPath) {
  Model<TwoHeads> model;
  std::vector<std::string> paths;
  for (const auto& layer : model.architecture().layers) paths.push_back(layer.path + " " + layer.kind);
  const std::vector<std::string> expected = {"0.0.0 Dense", "0.0.1 Tanh", "0.1 Identity", "1 Concatenate",
                                             "2 Dense", "3 Tanh", "4.0.0 Dense", "4.0.1 Identity", "4.1 Add",
                                             "5.0.0 Dense", "5.0.1 Softmax", "5.1 Dense"};
  EXPECT_EQ(paths, expected);
  EXPECT_EQ(model.set_trainable("0", false), 2u);  // the global branch's Dense
  EXPECT_EQ(model.set_trainable("5.1", false), 2u);
}

TEST(Composition, AWrongInputBlockIsNamed) {
  Model<TwoHeads> model;
  xt::xtensor<float, 2> global = xt::zeros<float>({4, 3});
  xt::xtensor<float, 2> wrong = xt::zeros<float>({4, 7});
  try {
    model.predict(std::make_tuple(global, wrong));
    FAIL() << "must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("block 1 of 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("shape (7)"), std::string::npos) << e.what();
  }
  xt::xtensor<float, 2> fewer = xt::zeros<float>({3, 8});
  EXPECT_THROW(model.predict(std::make_tuple(global, fewer)), Error);
}

TEST(Composition, TwoHeadsTrain) {
  Model<TwoHeads> model(3);
  Random random(8);
  auto x = std::make_tuple(xt::xtensor<float, 2>(xt::empty<float>({32, 3})), xt::xtensor<float, 2>(xt::empty<float>({32, 8})));
  auto t = std::make_tuple(xt::xtensor<float, 2>(xt::zeros<float>({32, 3})), xt::xtensor<float, 2>(xt::empty<float>({32, 1})));
  for (std::size_t i = 0; i < 32; ++i) {
    for (auto& v : xt::view(std::get<0>(x), i)) v = random.uniform(-1.0f, 1.0f);
    for (auto& v : xt::view(std::get<1>(x), i)) v = random.uniform(-1.0f, 1.0f);
    std::get<0>(t)(i, std::get<0>(x)(i, 0) > 0 ? 0 : (std::get<1>(x)(i, 0) > 0 ? 1 : 2)) = 1.0f;
    std::get<1>(t)(i, 0) = std::get<0>(x)(i, 1) + std::get<1>(x)(i, 2);
  }
  Losses<CategoricalCrossEntropy, MeanSquaredError> loss;
  Adam adam{.learning_rate = 0.01};
  const double first = model.train_step(x, t, nullptr, loss, adam);
  double last = first;
  for (int i = 0; i < 300; ++i) last = model.train_step(x, t, nullptr, loss, adam);
  EXPECT_LT(last, 0.3 * first);
  EXPECT_LT(loss.last_terms[1], 0.1);
}

}  // namespace
