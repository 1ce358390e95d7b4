// deepjet/data/blocks.hpp: typed feature-block descriptors, declared once per data format.
//
// A block is a struct with constexpr members; its compile-time shape feeds the model, and the same
// members drive the converter, the training files and the inference input:
//
//   struct Global : deepjet::data::FlatBlock {                 // one row of features per jet
//     static constexpr std::string_view name = "global";
//     static constexpr std::array features{
//         deepjet::data::feature("jet_pt").log(),             // source branch + preprocessing
//         deepjet::data::feature("jet_eta"),
//         deepjet::data::feature("TagVarCSV_trackSip2dSigAboveCharm").missing_below(-998).clip(-50, 50)};
//   };
//   struct Cpf : deepjet::data::ListBlock<25> {                 // up to 25 entries per jet
//     static constexpr std::string_view name = "cpf";
//     static constexpr std::array features{deepjet::data::feature("Cpfcan_ptrel"), ...};
//     static constexpr deepjet::data::SortKey sort{"Cpfcan_BtagPf_trackSip2dSig", deepjet::data::descending};
//   };
//   deepjet::data::shape_of<Cpf>   is   deepjet::Shape<25, N features>
//
// Preprocessing of one value, in this order: missing (NaN/inf, or below missing_threshold) -> the
// feature's default; clip to [clip_low, clip_high]; log (of values <= 0: the default); then, if the
// feature is normalised, (x - mean) / std with statistics measured on training sources
// (data/normalisation.hpp). Entries of a list are taken in the source's order, or sorted by `sort`
// (a branch of the same collection, not necessarily a feature), cut at the block's length, and
// padded with `padding`.
//
// Truth is a ClassLabels block: each class is the sum of one or more source flags (DeepJet's
// "bb" = isBB + isGBB); a jet's truth row need not be one-hot.
#pragma once

#include "deepjet/core/shape.hpp"

#include <array>
#include <concepts>
#include <cstddef>
#include <limits>
#include <string_view>
#include <type_traits>

namespace deepjet::data {

/// How one input feature is read from a source and prepared.
struct FeatureSpec {
  std::string_view branch;  ///< source branch; also the feature's name
  float default_value = 0.0f;
  float missing_threshold = -std::numeric_limits<float>::infinity();  ///< smaller values are "missing"
  float clip_low = -std::numeric_limits<float>::infinity();
  float clip_high = std::numeric_limits<float>::infinity();
  bool take_log = false;
  bool normalise = true;

  /// Value for missing entries (NaN, inf, sentinels below missing_below).
  constexpr FeatureSpec with_default(float value) const { auto f = *this; f.default_value = value; return f; }
  /// Values below `threshold` are sentinels (the ntupler's -999): replaced by the default.
  constexpr FeatureSpec missing_below(float threshold) const { auto f = *this; f.missing_threshold = threshold; return f; }
  constexpr FeatureSpec clip(float low, float high) const { auto f = *this; f.clip_low = low; f.clip_high = high; return f; }
  /// Natural logarithm (after clipping); values <= 0 become the default.
  constexpr FeatureSpec log() const { auto f = *this; f.take_log = true; return f; }
  /// Keep the prepared value as it is: no mean/std normalisation (flags, categories).
  constexpr FeatureSpec raw() const { auto f = *this; f.normalise = false; return f; }
};

/// A feature read from `branch`, with no preprocessing but normalisation.
constexpr FeatureSpec feature(std::string_view branch) { return FeatureSpec{branch}; }

enum class Order { ascending, descending };
inline constexpr Order ascending = Order::ascending;
inline constexpr Order descending = Order::descending;

/// Sort the entries of a list by a branch of the same collection.
struct SortKey {
  std::string_view branch;
  Order order = Order::descending;
  /// Sort by the absolute value (impact-parameter significances are signed).
  bool absolute = false;
};

/// Base of blocks with one row of features per jet.
struct FlatBlock {
  static constexpr bool is_list = false;
};

/// Base of blocks with up to `Entries` rows (particles, vertices) per jet.
template <std::size_t Entries>
struct ListBlock {
  static_assert(Entries > 0, "deepjet::data::ListBlock<Entries>: Entries must be positive");
  static constexpr bool is_list = true;
  static constexpr std::size_t entries = Entries;
  static constexpr float padding = 0.0f;
};

/// A block of input features (flat or list) as declared above.
template <class B>
concept InputBlock = requires {
  { B::name } -> std::convertible_to<std::string_view>;
  { B::is_list } -> std::convertible_to<bool>;
  B::features.size();
  requires std::same_as<typename std::remove_cvref_t<decltype(B::features)>::value_type, FeatureSpec>;
  requires B::features.size() > 0;
};

template <InputBlock B>
struct block_shape {
  using type = Shape<B::features.size()>;
};
template <InputBlock B>
  requires(B::is_list)
struct block_shape<B> {
  using type = Shape<B::entries, B::features.size()>;
};

/// The compile-time shape of one jet's values of block B.
template <InputBlock B>
using shape_of = typename block_shape<B>::type;

/// The input shape of a model fed by these blocks, in this order.
template <InputBlock... Blocks>
using InputsOf = Inputs<shape_of<Blocks>...>;

/// Whether block B sorts its entries.
template <class B>
concept SortedList = InputBlock<B> && B::is_list && requires {
  { B::sort } -> std::convertible_to<SortKey>;
};

/// One class of the truth: the sum of up to 8 source flags.
struct ClassSpec {
  std::string_view name;
  std::array<std::string_view, 8> flags{};
  std::size_t flag_count = 0;
};

/// The class `name`, true where any of `flags` is (the flags' sum).
template <class... Flags>
constexpr ClassSpec label(std::string_view name, Flags... flags) {
  static_assert(sizeof...(Flags) > 0 && sizeof...(Flags) <= 8, "deepjet::data::label: 1 to 8 source flags");
  return ClassSpec{name, {std::string_view(flags)...}, sizeof...(Flags)};
}

/// Base of truth blocks: Derived::classes is a std::array of label(...).
struct ClassLabels {};

template <class B>
concept TruthBlock = std::derived_from<B, ClassLabels> && requires {
  B::classes.size();
  requires std::same_as<typename std::remove_cvref_t<decltype(B::classes)>::value_type, ClassSpec>;
  requires B::classes.size() > 0;
};

template <TruthBlock B>
using truth_shape_of = Shape<B::classes.size()>;

/// Per-jet values kept beside the inputs for evaluation (pT, eta, ...), never fed to a model.
/// Derived::branches is a std::array of branch names.
struct SpectatorBlock {};

template <class B>
concept Spectators = std::derived_from<B, SpectatorBlock> && requires { B::branches.size(); };

/// No spectators.
struct NoSpectators : SpectatorBlock {
  static constexpr std::array<std::string_view, 0> branches{};
};

/// Per-jet regression targets (a jet's true pT, ...), read unprepared like spectators and trained
/// on by a model's regression head. Derived::branches is a std::array of branch names.
struct TargetBlock {};

template <class B>
concept Targets = std::derived_from<B, TargetBlock> && requires { B::branches.size(); };

/// No regression targets.
struct NoTargets : TargetBlock {
  static constexpr std::array<std::string_view, 0> branches{};
};

}  // namespace deepjet::data
