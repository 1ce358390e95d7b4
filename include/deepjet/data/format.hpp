// deepjet/data/format.hpp: a data format = the input blocks, the truth and the spectators.
//
//   using DeepJetData = deepjet::data::Format<deepjet::data::Blocks<Global, Cpf, Npf, Sv>, Truth, Kinematics>;
//   DeepJetData::input_shape    Inputs<Shape<15>, Shape<25, 16>, Shape<25, 6>, Shape<4, 12>>: give it
//                               to the model (Sequential<DeepJetData::input_shape, ...>), so a model
//                               that does not fit the data does not compile
//   DeepJetData::truth_shape    Shape<number of classes>
//   DeepJetData::label_shape    what a model trained on it outputs: truth_shape, or with regression
//                               targets (a 4th argument, a TargetBlock) Shapes<truth_shape, Shape<targets>>
//   DeepJetData::describe()     the format as text: stored in every training file and compared when
//                               one is read, so files of another format are refused by name
#pragma once

#include "deepjet/data/blocks.hpp"

#include <iomanip>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>

namespace deepjet::data {

template <InputBlock... B>
struct Blocks {
  static_assert(sizeof...(B) > 0, "deepjet::data::Blocks needs at least one input block");
};

template <class InputBlocks, TruthBlock Truth, Spectators Spec = NoSpectators, Targets Tgt = NoTargets>
struct Format;

template <InputBlock... B, TruthBlock Truth, Spectators Spec, Targets Tgt>
struct Format<Blocks<B...>, Truth, Spec, Tgt> {
  using blocks = std::tuple<B...>;
  using truth = Truth;
  using spectators = Spec;
  using targets = Tgt;
  static constexpr std::size_t block_count = sizeof...(B);
  static constexpr std::size_t target_count = Tgt::branches.size();
  using input_shape = InputsOf<B...>;
  using truth_shape = truth_shape_of<Truth>;
  /// What a model trained on this format outputs: the class probabilities, or, with regression
  /// targets, the probabilities and the targets side by side (a model ending in Heads<...>).
  using label_shape = std::conditional_t<target_count == 0, truth_shape,
                                         Shapes<truth_shape, Shape<(target_count > 0 ? target_count : 1)>>>;

  /// Every name, branch and preprocessing choice, one line each.
  static std::string describe() {
    std::ostringstream text;
    text << std::setprecision(6);  // as %g: the same text on every platform
    auto block = [&]<class Block>(std::type_identity<Block>) {
      text << "block " << Block::name << " " << shape_of<Block>::to_string();
      if constexpr (SortedList<Block>) {
        const char* bar = Block::sort.absolute ? "|" : "";
        text << " sorted by " << bar << Block::sort.branch << bar
             << (Block::sort.order == Order::descending ? " descending" : " ascending");
      }
      if constexpr (Block::is_list) text << " padding " << Block::padding;
      text << "\n";
      for (const FeatureSpec& f : Block::features)
        text << "  " << f.branch << " default " << f.default_value << " missing_below " << f.missing_threshold
             << " clip " << f.clip_low << " " << f.clip_high << (f.take_log ? " log" : "")
             << (f.normalise ? " normalised" : " raw") << "\n";
    };
    (block(std::type_identity<B>{}), ...);
    text << "truth";
    for (const ClassSpec& c : Truth::classes) {
      text << " " << c.name << "=";
      for (std::size_t i = 0; i < c.flag_count; ++i) text << (i ? "+" : "") << c.flags[i];
    }
    text << "\nspectators";
    for (std::string_view s : Spec::branches) text << " " << s;
    text << "\n";
    if constexpr (target_count > 0) {
      text << "targets";
      for (std::string_view t : Tgt::branches) text << " " << t;
      text << "\n";
    }
    return text.str();
  }
};

}  // namespace deepjet::data
