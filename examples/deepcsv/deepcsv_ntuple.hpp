// write_deepcsv_ntuple: DeepCSV's 66 inputs per jet, derived from the DeepJet example jets
// (deepjet/example_data/deepjet_jets.hpp, generated in memory, chunk by chunk), written as a flat ROOT
// ntuple: one float branch per DeepCSV input (deepcsv_data.hpp's names), the example jets' truth
// flags (int32) and jet_pt, jet_eta, in the tree "deepntuplizer/tree".
//
// How each input is derived (CMS computes them from the same tag infos):
//   jet and CSV variables    the example jets' global branches (jet_pt, |jet_eta|, nsv, TagVarCSV_*)
//   six tracks               the first six charged candidates, which the example jets order by
//                            decreasing 2D IP significance, as DeepCSV orders its tracks:
//                            trackJetDist, trackPtRel, trackDeltaR, trackSip3dSig, trackSip2dSig as
//                            stored; trackPtRatio = pT relative to the jet axis / |p|; trackDecayLenVal
//                            = |3D IP| / sin(angle to the jet axis), the flight distance along the
//                            jet axis of a track from a vertex on it (capped at 5 cm, CMS's cut)
//   trackEtaRel_0..3         the four smallest track etaRel among the candidates, if the jet has a
//                            (pseudo) vertex (vertexCategory < 2), as CMS takes the vertex tracks'
//   vertex variables         the leading SV (highest flight significance): mass, tracks, energy
//                            ratio, dR to the jet axis, 2D and 3D flight distance and significance
// Missing entries (fewer than six tracks, no vertex) are -999, as in CMS's tag infos.
// Errors: the example-jet generator's (bad options), and deepjet::FileError from the ROOT writer
// naming the file; nothing is left at `path` on failure.
#pragma once

#include <deepjet/example_data/deepjet_jets.hpp>
#include <deepjet/io/root_writer.hpp>

#include "deepcsv_data.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace deepjet::zoo {

namespace deepcsv_ntuple_detail {

template <std::size_t N>
constexpr std::size_t index_of(const std::array<const char*, N>& names, std::string_view name) {
  for (std::size_t i = 0; i < N; ++i)
    if (std::string_view(names[i]) == name) return i;
  throw "unknown branch";  // a compile-time error where used in a constant expression
}
constexpr std::size_t global(std::string_view name) { return index_of(data::example_jets_global_branches, name); }
constexpr std::size_t charged(std::string_view name) { return index_of(data::example_jets_charged_branches, name); }
constexpr std::size_t vertex(std::string_view name) { return index_of(data::example_jets_sv_branches, name); }

inline constexpr float missing = -999.0f;

}  // namespace deepcsv_ntuple_detail

inline constexpr const char* deepcsv_tree = "deepntuplizer/tree";

/// Write `options.jets` jets' DeepCSV inputs to the ROOT file `path` (see the contract above).
inline void write_deepcsv_ntuple(const std::filesystem::path& path, const data::ExampleJetsOptions& options) {
  namespace d = deepcsv_ntuple_detail;
  data::ExampleJetsGenerator generator(options);
  root::WriteOptions write_options;
  write_options.compression = root::CompressionSettings::none();
  root::FileWriter file(path, write_options);
  root::TreeWriter& tree = file.make_tree(deepcsv_tree, "DeepCSV inputs of deepjet example jets");
  constexpr std::size_t inputs = DeepCSVInputs::features.size();
  for (const auto& f : DeepCSVInputs::features) tree.add_branch<float>(std::string(f.branch));
  for (const char* flag : data::example_jets_truth_branches) tree.add_branch<std::int32_t>(flag);
  tree.add_branch<float>("jet_pt").add_branch<float>("jet_eta");

  data::ExampleJetsChunk chunk;
  std::array<std::vector<float>, inputs> columns;
  std::vector<float> eta_rel;
  for (std::uint64_t first = 0; first < options.jets; first += options.chunk_jets) {
    const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(options.chunk_jets, options.jets - first));
    generator.generate(first, count, chunk);
    for (auto& c : columns) c.assign(count, d::missing);
    std::size_t charged_begin = 0, sv_begin = 0;
    for (std::size_t j = 0; j < count; ++j) {
      std::size_t k = 0;
      auto set = [&](float value) { columns[k++][j] = value; };
      const auto g = [&](std::string_view name) { return chunk.global[d::global(name)][j]; };
      set(g("jet_pt"));
      set(std::abs(g("jet_eta")));
      set(g("nsv"));
      for (const char* name : {"TagVarCSV_trackSumJetEtRatio", "TagVarCSV_trackSumJetDeltaR", "TagVarCSV_vertexCategory",
                               "TagVarCSV_trackSip2dValAboveCharm", "TagVarCSV_trackSip2dSigAboveCharm",
                               "TagVarCSV_trackSip3dValAboveCharm", "TagVarCSV_trackSip3dSigAboveCharm",
                               "TagVarCSV_jetNSelectedTracks", "TagVarCSV_jetNTracksEtaRel"})
        set(g(name));
      // Tracks: the first six charged candidates.
      const auto n_charged = static_cast<std::size_t>(chunk.charged_counts[j]);
      const std::size_t tracks = std::min<std::size_t>(6, n_charged);
      const auto c = [&](std::size_t feature, std::size_t t) { return chunk.charged[feature][charged_begin + t]; };
      constexpr std::size_t jet_dist = d::charged("Cpfcan_BtagPf_trackJetDistVal"), pt_rel = d::charged("Cpfcan_BtagPf_trackPtRel"),
                            delta_r = d::charged("Cpfcan_BtagPf_trackDeltaR"), p_par = d::charged("Cpfcan_BtagPf_trackPPar"),
                            sip3d_sig = d::charged("Cpfcan_BtagPf_trackSip3dSig"), sip2d_sig = d::charged("Cpfcan_BtagPf_trackSip2dSig"),
                            sip3d_val = d::charged("Cpfcan_BtagPf_trackSip3dVal"), etarel = d::charged("Cpfcan_BtagPf_trackEtaRel");
      const std::size_t block = k;
      for (std::size_t t = 0; t < tracks; ++t) {
        const double momentum = std::hypot(c(pt_rel, t), c(p_par, t));
        const double ratio = momentum > 0 ? c(pt_rel, t) / momentum : 0.0;
        columns[block + 0 * 6 + t][j] = c(jet_dist, t);
        columns[block + 1 * 6 + t][j] = c(pt_rel, t);
        columns[block + 2 * 6 + t][j] = c(delta_r, t);
        columns[block + 3 * 6 + t][j] = static_cast<float>(ratio);
        columns[block + 4 * 6 + t][j] = c(sip3d_sig, t);
        columns[block + 5 * 6 + t][j] = c(sip2d_sig, t);
        columns[block + 6 * 6 + t][j] = static_cast<float>(std::min(5.0, std::abs(c(sip3d_val, t)) / std::max(ratio, 0.01)));
      }
      k = block + 7 * 6;
      // etaRel of the vertex tracks: the four smallest, if there is a (pseudo) vertex.
      if (g("TagVarCSV_vertexCategory") < 2) {
        eta_rel.clear();
        for (std::size_t t = 0; t < n_charged; ++t) eta_rel.push_back(c(etarel, t));
        std::sort(eta_rel.begin(), eta_rel.end());
        for (std::size_t t = 0; t < std::min<std::size_t>(4, eta_rel.size()); ++t) columns[k + t][j] = eta_rel[t];
      }
      k += 4;
      // The leading vertex.
      if (chunk.sv_counts[j] > 0) {
        const auto v = [&](std::string_view name) { return chunk.sv[d::vertex(name)][sv_begin]; };
        set(v("sv_mass"));
        set(v("sv_ntracks"));
        set(v("sv_enratio"));
        set(v("sv_deltaR") + 0.5f);  // the ntupler stores dR - 0.5
        set(v("sv_dxy"));
        set(v("sv_dxysig"));
        set(v("sv_d3d"));
        set(v("sv_d3dsig"));
      }
      charged_begin += n_charged;
      sv_begin += static_cast<std::size_t>(chunk.sv_counts[j]);
    }
    for (std::size_t k = 0; k < inputs; ++k) tree.write<float>(std::string(DeepCSVInputs::features[k].branch), columns[k]);
    for (std::size_t f = 0; f < chunk.truth.size(); ++f) tree.write<std::int32_t>(data::example_jets_truth_branches[f], chunk.truth[f]);
    tree.write<float>("jet_pt", chunk.global[d::global("jet_pt")]);
    tree.write<float>("jet_eta", chunk.global[d::global("jet_eta")]);
  }
  file.close();
}

}  // namespace deepjet::zoo
