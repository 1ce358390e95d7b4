// PFNano jets as DeepJet-style blocks: what examples/pfnano converts and tests/test_jet_source.cpp checks.
//
// A PFNano file holds events; open_pfnano_jets makes its jets the entries (data/jet_source.hpp):
//   cpf  the jet's charged PF candidates (PFCands_charge != 0), through JetPFCands_jetIdx/pFCandsIdx
//   npf  its neutral PF candidates (PFCands_charge == 0), through the same map
//   sv   its secondary vertices, through JetSVs_jetIdx/sVIdx; JetSVs_sVIdx is -1 for vertices that
//        are not in the SV table, so those entries are kept and only the map's own JetSVs_*
//        branches (which carry every vertex feature) are read
// with DeepJet's per-candidate ptrel (candidate pT / jet pT) and deltaR (to the jet axis), isGamma
// (PDG id 22) for neutrals, and the hadron-flavour truth flags isB (Jet_hadronFlavour == 5),
// isC (== 4), isUDSG (== 0).
//
// The blocks follow DeepJet's where NanoAOD has the quantity: global jet features with the CSV tag
// variables (-999: not computed -> 0), charged candidates with the map's b-tagging variables sorted
// by 3D impact-parameter significance, neutrals sorted by pT, vertices sorted by flight
// significance; cut at 25, 25 and 4.
#pragma once

#include <deepjet/deepjet.hpp>

#include <cmath>
#include <memory>
#include <string>

namespace pfnano {

namespace dd = deepjet::data;

struct Global : dd::FlatBlock {
  static constexpr std::string_view name = "global";
  static constexpr std::array features{
      dd::feature("Jet_pt").log(), dd::feature("Jet_eta"), dd::feature("Jet_mass").log(),
      dd::feature("cpf.size"), dd::feature("npf.size"), dd::feature("sv.size"), dd::feature("PV_npvs"),
      dd::feature("Jet_DeepCSV_trackSumJetEtRatio").missing_below(-998),
      dd::feature("Jet_DeepCSV_trackSumJetDeltaR").missing_below(-998),
      dd::feature("Jet_DeepCSV_vertexCategory").missing_below(-998),
      dd::feature("Jet_DeepCSV_trackSip2dValAboveCharm").missing_below(-998).clip(-1, 1),
      dd::feature("Jet_DeepCSV_trackSip2dSigAboveCharm").missing_below(-998).clip(-100, 100),
      dd::feature("Jet_DeepCSV_trackSip3dValAboveCharm").missing_below(-998).clip(-1, 1),
      dd::feature("Jet_DeepCSV_trackSip3dSigAboveCharm").missing_below(-998).clip(-100, 100),
      dd::feature("Jet_DeepCSV_jetNSelectedTracks"), dd::feature("Jet_DeepCSV_jetNTracksEtaRel")};
};

struct ChargedCandidates : dd::ListBlock<25> {
  static constexpr std::string_view name = "cpf";
  static constexpr std::array features{
      dd::feature("cpf.JetPFCands_btagEtaRel"), dd::feature("cpf.JetPFCands_btagPtRatio"),
      dd::feature("cpf.JetPFCands_btagPParRatio"), dd::feature("cpf.JetPFCands_btagSip3dVal").clip(-1, 1),
      dd::feature("cpf.JetPFCands_btagSip3dSig").clip(-100, 100), dd::feature("cpf.JetPFCands_btagJetDistVal"),
      dd::feature("cpf.ptrel"), dd::feature("cpf.deltaR"), dd::feature("cpf.PFCands_pt").log(),
      dd::feature("cpf.PFCands_d0").clip(-1, 1),
      dd::feature("cpf.PFCands_dz").clip(-1, 1), dd::feature("cpf.PFCands_puppiWeight").raw(),
      dd::feature("cpf.PFCands_pvAssocQuality").raw(), dd::feature("cpf.PFCands_lostInnerHits").raw(),
      dd::feature("cpf.PFCands_trkQuality").raw()};
  static constexpr dd::SortKey sort{"cpf.JetPFCands_btagSip3dSig", dd::descending};
};

struct NeutralCandidates : dd::ListBlock<25> {
  static constexpr std::string_view name = "npf";
  static constexpr std::array features{
      dd::feature("npf.ptrel"), dd::feature("npf.deltaR"), dd::feature("npf.isGamma").raw(),
      dd::feature("npf.PFCands_puppiWeight").raw(), dd::feature("npf.PFCands_pt").log(),
      dd::feature("npf.JetPFCands_btagEtaRel")};
  static constexpr dd::SortKey sort{"npf.PFCands_pt", dd::descending};
};

struct SecondaryVertices : dd::ListBlock<4> {
  static constexpr std::string_view name = "sv";
  static constexpr std::array features{
      dd::feature("sv.JetSVs_pt").log(), dd::feature("sv.JetSVs_deltaR"), dd::feature("sv.JetSVs_mass"),
      dd::feature("sv.JetSVs_ntracks"), dd::feature("sv.JetSVs_chi2"), dd::feature("sv.JetSVs_normchi2"),
      dd::feature("sv.JetSVs_dxy"), dd::feature("sv.JetSVs_dxysig").clip(-100, 100), dd::feature("sv.JetSVs_d3d"),
      dd::feature("sv.JetSVs_d3dsig").clip(-100, 100), dd::feature("sv.JetSVs_costhetasvpv"),
      dd::feature("sv.JetSVs_enration")};
  static constexpr dd::SortKey sort{"sv.JetSVs_dxysig", dd::descending};
};

struct HadronFlavour : dd::ClassLabels {
  static constexpr std::array classes{dd::label("b", "isB"), dd::label("c", "isC"), dd::label("udsg", "isUDSG")};
};

struct Kinematics : dd::SpectatorBlock {
  // event and Jet.index (the jet's index in its event) find a jet back in the NanoAOD file.
  static constexpr std::array<std::string_view, 6> branches{"Jet_pt", "Jet_eta", "Jet_hadronFlavour",
                                                            "Jet_partonFlavour", "event", "Jet.index"};
};

using PFNanoData =
    dd::Format<dd::Blocks<Global, ChargedCandidates, NeutralCandidates, SecondaryVertices>, HadronFlavour, Kinematics>;

/// The distance in (eta, phi) of two directions, phi difference taken in [-pi, pi].
inline float delta_r(float eta1, float phi1, float eta2, float phi2) {
  constexpr float pi = 3.14159265358979f;
  float dphi = std::fmod(phi1 - phi2, 2 * pi);
  if (dphi > pi) dphi -= 2 * pi;
  if (dphi < -pi) dphi += 2 * pi;
  return std::hypot(eta1 - eta2, dphi);
}

/// The jets of a PFNano file (tree "Events") with their cpf, npf and sv lists and truth flags.
inline std::unique_ptr<dd::JetSource> open_pfnano_jets(const std::string& path) {
  auto jets = std::make_unique<dd::JetSource>(dd::open_source(path, "Events"), "Jet");
  jets->link({.name = "cpf", .collection = "PFCands", .map = "JetPFCands", .entry_index = "pFCandsIdx",
              .select_branch = "PFCands_charge", .select = [](float charge) { return charge != 0; }});
  jets->link({.name = "npf", .collection = "PFCands", .map = "JetPFCands", .entry_index = "pFCandsIdx",
              .select_branch = "PFCands_charge", .select = [](float charge) { return charge == 0; }});
  jets->link({.name = "sv", .collection = "SV", .map = "JetSVs", .entry_index = "sVIdx",
              .unmatched = dd::Unmatched::keep});
  // DeepJet's candidate features relative to the jet: pT fraction and distance to the jet axis.
  for (const char* list : {"cpf", "npf"}) {
    jets->add_derived_to_list(list, "ptrel", {"PFCands_pt", "Jet_pt"},
                              [](std::span<const float> v) { return v[0] / v[1]; });
    jets->add_derived_to_list(list, "deltaR", {"PFCands_eta", "PFCands_phi", "Jet_eta", "Jet_phi"},
                              [](std::span<const float> v) { return delta_r(v[0], v[1], v[2], v[3]); });
  }
  jets->add_derived_to_list("npf", "isGamma", {"PFCands_pdgId"},
                            [](std::span<const float> v) { return v[0] == 22 ? 1.0f : 0.0f; });
  auto flavour_is = [](float wanted) { return [wanted](float flavour) { return flavour == wanted ? 1.0f : 0.0f; }; };
  jets->add_derived("isB", "Jet_hadronFlavour", flavour_is(5));
  jets->add_derived("isC", "Jet_hadronFlavour", flavour_is(4));
  jets->add_derived("isUDSG", "Jet_hadronFlavour", flavour_is(0));
  return jets;
}

}  // namespace pfnano
