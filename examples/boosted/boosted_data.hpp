// The boosted-jet (DeepAK8) data format: what the tagger reads from a DeepAK8-like ntuple, block by
// block. The blocks' shapes are DeepAK8's inputs (deepjet/zoo/deepak8.hpp: 100
// particles x 42 features, 7 secondary vertices x 15) and the truth is its 17 classes, so a model
// and a data format that do not fit each other do not compile.
//
// The ntuple already orders the lists (particles by decreasing PUPPI-weighted pT, vertices by
// decreasing dxy significance), so the source order is kept and the lists are cut at 100 and 7. As
// in CMS's DeepBoostedJet preprocessing, flags (charge, particle type, VTX_ass, lostInnerHits,
// quality) are not normalised, heavy-tailed quantities are clipped before normalisation, and a
// neutral candidate's missing track chi2 (999 in the ntuples) is clipped to 20 with the worst tracks.
#pragma once

#include <deepjet/deepjet.hpp>

namespace deepjet::zoo {

namespace dd = deepjet::data;

struct BoostedParticles : dd::ListBlock<100> {
  static constexpr std::string_view name = "pfcand";
  static constexpr std::array features{
      dd::feature("pfcand_pt_log"), dd::feature("pfcand_ptrel_log"), dd::feature("pfcand_erel_log"),
      dd::feature("pfcand_phirel"), dd::feature("pfcand_etarel"), dd::feature("pfcand_deltaR"),
      dd::feature("pfcand_abseta"), dd::feature("pfcand_puppiw").raw(), dd::feature("pfcand_drminsv"),
      dd::feature("pfcand_drsubjet1"), dd::feature("pfcand_drsubjet2"), dd::feature("pfcand_charge").raw(),
      dd::feature("pfcand_isMu").raw(), dd::feature("pfcand_isEl").raw(), dd::feature("pfcand_isChargedHad").raw(),
      dd::feature("pfcand_isGamma").raw(), dd::feature("pfcand_isNeutralHad").raw(), dd::feature("pfcand_hcalFrac").raw(),
      dd::feature("pfcand_VTX_ass"), dd::feature("pfcand_lostInnerHits").raw(), dd::feature("pfcand_normchi2").clip(0, 20),
      dd::feature("pfcand_quality"), dd::feature("pfcand_dz").clip(-1, 1), dd::feature("pfcand_dzsig").clip(-50, 50),
      dd::feature("pfcand_dxy").clip(-0.5, 0.5), dd::feature("pfcand_dxysig").clip(-50, 50),
      dd::feature("pfcand_dptdpt").clip(0, 100), dd::feature("pfcand_detadeta").clip(0, 1e-4),
      dd::feature("pfcand_dphidphi").clip(0, 1e-4), dd::feature("pfcand_dxydxy").clip(0, 1e-4),
      dd::feature("pfcand_dzdz").clip(0, 1e-4), dd::feature("pfcand_dxydz").clip(-1e-5, 1e-5),
      dd::feature("pfcand_dphidxy").clip(-1e-6, 1e-6), dd::feature("pfcand_dlambdadz").clip(-1e-6, 1e-6),
      dd::feature("pfcand_btagEtaRel").clip(0, 10), dd::feature("pfcand_btagPtRatio"),
      dd::feature("pfcand_btagPParRatio"), dd::feature("pfcand_btagSip2dVal").clip(-0.5, 0.5),
      dd::feature("pfcand_btagSip2dSig").clip(-50, 50), dd::feature("pfcand_btagSip3dVal").clip(-0.5, 0.5),
      dd::feature("pfcand_btagSip3dSig").clip(-50, 50), dd::feature("pfcand_btagJetDistVal").clip(-0.1, 0)};
};

struct BoostedVertices : dd::ListBlock<7> {
  static constexpr std::string_view name = "sv";
  static constexpr std::array features{
      dd::feature("sv_pt_log"), dd::feature("sv_ptrel_log"), dd::feature("sv_erel_log"), dd::feature("sv_phirel"),
      dd::feature("sv_etarel"), dd::feature("sv_deltaR"), dd::feature("sv_abseta"), dd::feature("sv_mass").clip(0, 10),
      dd::feature("sv_ntracks"), dd::feature("sv_normchi2").clip(0, 10), dd::feature("sv_dxy").clip(0, 5),
      dd::feature("sv_dxysig").clip(0, 100), dd::feature("sv_d3d").clip(0, 5), dd::feature("sv_d3dsig").clip(0, 100),
      dd::feature("sv_costhetasvpv").clip(0.9, 1)};
};

/// DeepAK8's 17 classes, each one truth flag of the ntuple (deepak8_classes' order).
struct BoostedTruth : dd::ClassLabels {
  static constexpr std::array classes{
      dd::label("Top_bcq", "label_Top_bcq"), dd::label("Top_bqq", "label_Top_bqq"), dd::label("Top_bc", "label_Top_bc"),
      dd::label("Top_bq", "label_Top_bq"),   dd::label("W_cq", "label_W_cq"),       dd::label("W_qq", "label_W_qq"),
      dd::label("Z_bb", "label_Z_bb"),       dd::label("Z_cc", "label_Z_cc"),       dd::label("Z_qq", "label_Z_qq"),
      dd::label("H_bb", "label_H_bb"),       dd::label("H_cc", "label_H_cc"),       dd::label("H_qqqq", "label_H_qqqq"),
      dd::label("QCD_bb", "label_QCD_bb"),   dd::label("QCD_cc", "label_QCD_cc"),   dd::label("QCD_b", "label_QCD_b"),
      dd::label("QCD_c", "label_QCD_c"),     dd::label("QCD_others", "label_QCD_others")};
};

/// Carried along, never inputs: pT and soft-drop mass for the (pT, mass) reweighting and the mass
/// sculpting plots, eta for cuts, the N-subjettiness ratios as the classic taggers to compare with.
struct BoostedSpectators : dd::SpectatorBlock {
  static constexpr std::array<std::string_view, 5> branches{"fj_pt", "fj_eta", "fj_sdmass", "fj_tau21", "fj_tau32"};
};

using BoostedData = dd::Format<dd::Blocks<BoostedParticles, BoostedVertices>, BoostedTruth, BoostedSpectators>;

}  // namespace deepjet::zoo
