// The DeepCSV data format: 66 flat features per jet, named and ordered as CMS's DeepCSV takes them
// (the input list of DeepCSV_PhaseI.json), four classes (b, bb, c, udsg). The block's shape is
// DeepCSV's input (deepjet/zoo/deepcsv.hpp, Input<66>): a model and a data format that
// do not fit each other do not compile.
//
// The source is a flat ntuple of these 66 branches (deepcsv_ntuple.hpp derives one from the DeepJet
// example jets). A missing track or vertex is -999 there, as CMS's tag-info variables are; it
// becomes 0 before normalisation (DeepCSV's own files give every input the default 0 too).
// Significances are clipped to +-100 and pT-like quantities taken in log.
#pragma once

#include <deepjet/deepjet.hpp>

#include <array>
#include <string_view>

namespace deepjet::zoo {

namespace dd = deepjet::data;

namespace deepcsv_detail {
/// A tag-info variable that may be missing (-999 in the source).
constexpr dd::FeatureSpec var(std::string_view branch) { return dd::feature(branch).missing_below(-998); }
/// The same, clipped (signed significances, impact parameters).
constexpr dd::FeatureSpec clipped(std::string_view branch, float limit) { return var(branch).clip(-limit, limit); }
}  // namespace deepcsv_detail

struct DeepCSVInputs : dd::FlatBlock {
  static constexpr std::string_view name = "deepcsv";
  static constexpr std::array features{
      // jet and CSV tag variables (12)
      deepcsv_detail::var("jetPt").log(), deepcsv_detail::var("jetAbsEta"), deepcsv_detail::var("jetNSecondaryVertices"),
      deepcsv_detail::var("trackSumJetEtRatio"), deepcsv_detail::var("trackSumJetDeltaR"), deepcsv_detail::var("vertexCategory"),
      deepcsv_detail::clipped("trackSip2dValAboveCharm", 1), deepcsv_detail::clipped("trackSip2dSigAboveCharm", 100),
      deepcsv_detail::clipped("trackSip3dValAboveCharm", 1), deepcsv_detail::clipped("trackSip3dSigAboveCharm", 100),
      deepcsv_detail::var("jetNSelectedTracks"), deepcsv_detail::var("jetNTracksEtaRel"),
      // six tracks, by decreasing 2D IP significance (42)
      deepcsv_detail::clipped("trackJetDist_0", 1), deepcsv_detail::clipped("trackJetDist_1", 1),
      deepcsv_detail::clipped("trackJetDist_2", 1), deepcsv_detail::clipped("trackJetDist_3", 1),
      deepcsv_detail::clipped("trackJetDist_4", 1), deepcsv_detail::clipped("trackJetDist_5", 1),
      deepcsv_detail::var("trackPtRel_0"), deepcsv_detail::var("trackPtRel_1"), deepcsv_detail::var("trackPtRel_2"),
      deepcsv_detail::var("trackPtRel_3"), deepcsv_detail::var("trackPtRel_4"), deepcsv_detail::var("trackPtRel_5"),
      deepcsv_detail::var("trackDeltaR_0"), deepcsv_detail::var("trackDeltaR_1"), deepcsv_detail::var("trackDeltaR_2"),
      deepcsv_detail::var("trackDeltaR_3"), deepcsv_detail::var("trackDeltaR_4"), deepcsv_detail::var("trackDeltaR_5"),
      deepcsv_detail::var("trackPtRatio_0"), deepcsv_detail::var("trackPtRatio_1"), deepcsv_detail::var("trackPtRatio_2"),
      deepcsv_detail::var("trackPtRatio_3"), deepcsv_detail::var("trackPtRatio_4"), deepcsv_detail::var("trackPtRatio_5"),
      deepcsv_detail::clipped("trackSip3dSig_0", 100), deepcsv_detail::clipped("trackSip3dSig_1", 100),
      deepcsv_detail::clipped("trackSip3dSig_2", 100), deepcsv_detail::clipped("trackSip3dSig_3", 100),
      deepcsv_detail::clipped("trackSip3dSig_4", 100), deepcsv_detail::clipped("trackSip3dSig_5", 100),
      deepcsv_detail::clipped("trackSip2dSig_0", 100), deepcsv_detail::clipped("trackSip2dSig_1", 100),
      deepcsv_detail::clipped("trackSip2dSig_2", 100), deepcsv_detail::clipped("trackSip2dSig_3", 100),
      deepcsv_detail::clipped("trackSip2dSig_4", 100), deepcsv_detail::clipped("trackSip2dSig_5", 100),
      deepcsv_detail::var("trackDecayLenVal_0"), deepcsv_detail::var("trackDecayLenVal_1"),
      deepcsv_detail::var("trackDecayLenVal_2"), deepcsv_detail::var("trackDecayLenVal_3"),
      deepcsv_detail::var("trackDecayLenVal_4"), deepcsv_detail::var("trackDecayLenVal_5"),
      // four smallest track pseudorapidities relative to the jet axis (4)
      deepcsv_detail::var("trackEtaRel_0"), deepcsv_detail::var("trackEtaRel_1"), deepcsv_detail::var("trackEtaRel_2"),
      deepcsv_detail::var("trackEtaRel_3"),
      // the leading secondary vertex (8)
      deepcsv_detail::var("vertexMass"), deepcsv_detail::var("vertexNTracks"), deepcsv_detail::var("vertexEnergyRatio"),
      deepcsv_detail::var("vertexJetDeltaR"), deepcsv_detail::var("flightDistance2dVal"),
      deepcsv_detail::clipped("flightDistance2dSig", 100), deepcsv_detail::var("flightDistance3dVal"),
      deepcsv_detail::clipped("flightDistance3dSig", 100)};
  static_assert(features.size() == 66, "DeepCSV takes 66 inputs");
};

/// DeepCSV's four classes from the DeepNTuples truth flags (b includes leptonic b decays; udsg
/// joins light quarks and gluons).
struct DeepCSVTruth : dd::ClassLabels {
  static constexpr std::array classes{dd::label("b", "isB", "isLeptonicB", "isLeptonicB_C"), dd::label("bb", "isBB", "isGBB"),
                                      dd::label("c", "isC", "isGCC", "isCC"), dd::label("udsg", "isUD", "isS", "isG")};
};

struct DeepCSVSpectators : dd::SpectatorBlock {
  static constexpr std::array<std::string_view, 2> branches{"jet_pt", "jet_eta"};
};

using DeepCSVData = dd::Format<dd::Blocks<DeepCSVInputs>, DeepCSVTruth, DeepCSVSpectators>;

}  // namespace deepjet::zoo
