// The DeepJet data format: what the tagger reads from a DeepNTuple-like source, block by block.
// The blocks' shapes are the DeepJet model's inputs (include/deepjet/zoo/deepjet.hpp):
// a model and a data format that do not fit each other do not compile.
//
// Candidates arrive ordered by the ntupler (charged by signed 2D impact-parameter significance,
// neutrals nearest to a secondary vertex first and then by pT, vertices by transverse flight
// significance), so the lists keep the source order and are cut at 25, 25 and 4. The ntupler's -999 ("not computed") defaults become 0 before normalisation, signed
// significances are clipped to +-100, and pT-like quantities are taken in log.
#pragma once

#include <deepjet/deepjet.hpp>

namespace deepjet::zoo {

namespace dd = deepjet::data;

struct DeepJetGlobal : dd::FlatBlock {
  static constexpr std::string_view name = "global";
  static constexpr std::array features{
      dd::feature("jet_pt").log(), dd::feature("jet_eta"), dd::feature("nCpfcand"), dd::feature("nNpfcand"),
      dd::feature("nsv"), dd::feature("npv"),
      dd::feature("TagVarCSV_trackSumJetEtRatio").missing_below(-998),
      dd::feature("TagVarCSV_trackSumJetDeltaR").missing_below(-998),
      dd::feature("TagVarCSV_vertexCategory").missing_below(-998),
      dd::feature("TagVarCSV_trackSip2dValAboveCharm").missing_below(-998).clip(-1, 1),
      dd::feature("TagVarCSV_trackSip2dSigAboveCharm").missing_below(-998).clip(-100, 100),
      dd::feature("TagVarCSV_trackSip3dValAboveCharm").missing_below(-998).clip(-1, 1),
      dd::feature("TagVarCSV_trackSip3dSigAboveCharm").missing_below(-998).clip(-100, 100),
      dd::feature("TagVarCSV_jetNSelectedTracks"), dd::feature("TagVarCSV_jetNTracksEtaRel")};
};

struct DeepJetChargedCandidates : dd::ListBlock<25> {
  static constexpr std::string_view name = "cpf";
  static constexpr std::array features{
      dd::feature("Cpfcan_BtagPf_trackEtaRel"), dd::feature("Cpfcan_BtagPf_trackPtRel"),
      dd::feature("Cpfcan_BtagPf_trackPPar"), dd::feature("Cpfcan_BtagPf_trackDeltaR"),
      dd::feature("Cpfcan_BtagPf_trackPParRatio"), dd::feature("Cpfcan_BtagPf_trackSip2dVal").clip(-1, 1),
      dd::feature("Cpfcan_BtagPf_trackSip2dSig").clip(-100, 100), dd::feature("Cpfcan_BtagPf_trackSip3dVal").clip(-1, 1),
      dd::feature("Cpfcan_BtagPf_trackSip3dSig").clip(-100, 100), dd::feature("Cpfcan_BtagPf_trackJetDistVal"),
      dd::feature("Cpfcan_ptrel"), dd::feature("Cpfcan_drminsv"), dd::feature("Cpfcan_VTX_ass"),
      dd::feature("Cpfcan_puppiw"), dd::feature("Cpfcan_chi2"), dd::feature("Cpfcan_quality")};
};

struct DeepJetNeutralCandidates : dd::ListBlock<25> {
  static constexpr std::string_view name = "npf";
  static constexpr std::array features{dd::feature("Npfcan_ptrel"), dd::feature("Npfcan_deltaR"),
                                       dd::feature("Npfcan_isGamma").raw(), dd::feature("Npfcan_HadFrac"),
                                       dd::feature("Npfcan_drminsv"), dd::feature("Npfcan_puppiw")};
};

struct DeepJetVertices : dd::ListBlock<4> {
  static constexpr std::string_view name = "sv";
  static constexpr std::array features{
      dd::feature("sv_pt").log(), dd::feature("sv_deltaR"), dd::feature("sv_mass"), dd::feature("sv_ntracks"),
      dd::feature("sv_chi2"), dd::feature("sv_normchi2"), dd::feature("sv_dxy"), dd::feature("sv_dxysig").clip(-100, 100),
      dd::feature("sv_d3d"), dd::feature("sv_d3dsig").clip(-100, 100), dd::feature("sv_costhetasvpv"),
      dd::feature("sv_enratio")};
};

struct DeepJetTruth : dd::ClassLabels {
  static constexpr std::array classes{dd::label("b", "isB"), dd::label("bb", "isBB", "isGBB"),
                                      dd::label("lepb", "isLeptonicB", "isLeptonicB_C"),
                                      dd::label("c", "isC", "isGCC", "isCC"), dd::label("uds", "isUD", "isS"),
                                      dd::label("g", "isG")};
};

struct DeepJetSpectators : dd::SpectatorBlock {
  static constexpr std::array<std::string_view, 2> branches{"jet_pt", "jet_eta"};
};

using DeepJetData = dd::Format<dd::Blocks<DeepJetGlobal, DeepJetChargedCandidates, DeepJetNeutralCandidates, DeepJetVertices>,
                               DeepJetTruth, DeepJetSpectators>;

}  // namespace deepjet::zoo
