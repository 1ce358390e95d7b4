// deepjet/example_data/fat_jets.hpp: a deterministic generator of AK8-like example fat jets with
// DeepAK8's inputs (top, W, Z, H and QCD), written as ROOT ntuples.
//
// Contract: generate_fat_jets(path, options) writes `options.jets` jets to the ROOT file `path`, tree
// "deepntuplizer/tree" (fat_jets_tree), one entry per jet:
//   - 17 truth flags (int32, one-hot) named label_<class> for DeepAK8's classes (deepak8_classes in
//     deepjet/zoo/deepak8.hpp, same order): fat_jets_label_branches;
//   - jet-level floats (fat_jets_jet_branches): fj_pt, fj_eta, fj_mass, fj_sdmass, the
//     N-subjettiness ratios fj_tau21, fj_tau32 (and tau1..3), npv, n_pfcands, n_sv, fj_gen_pt
//     (the generated parent pT) and fj_nprongs (hard prongs inside the jet);
//   - DeepAK8's 42 particle features (fat_jets_pfcand_branches, std::vector<float> per jet, the
//     candidates sorted by decreasing PUPPI-weighted pT and cut at 100) and its 15 secondary-vertex
//     features (fat_jets_sv_branches, std::vector<float>, sorted by decreasing dxy significance and
//     cut at 7), named and in the order of CMS's DeepBoostedJet preprocessing (V01/V02): logs are
//     stored as the ntuples store them (pfcand_pt_log ...), a neutral candidate's track variables
//     are 0 and its normchi2 999, a candidate's drminsv is 0.8 when the jet has no SV.
// docs/example-jets.md ("Fat jets") says what is simulated and what is not realistic.
//
// Determinism: jet i is drawn from its own deepjet::Random seeded from (seed, i): the same (seed,
// jets) gives the same values whatever the chunk size, and the first n jets of a larger run are
// the n jets of a smaller one (the ROOT file's creation date and UUID differ, not its entries).
// Memory: one chunk of `chunk_jets` jets (~10 kB each) at a time.
// Errors: bad options throw deepjet::Error; a file that cannot be written throws deepjet::FileError
// naming it, and nothing is left at `path` (the ROOT writer works on a temporary name).
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/core/random.hpp"
#include "deepjet/io/root_writer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace deepjet::example_data {

/// Share of each resonance among the generated jets (normalised to their sum).
struct FatJetClassFractions {
  double top = 0.22;
  double w = 0.14;
  double z = 0.14;
  double higgs = 0.14;
  double qcd = 0.36;
};

struct FatJetOptions {
  std::uint64_t jets = 20000;
  std::uint64_t seed = 1;
  std::size_t chunk_jets = 2048;  ///< jets generated and written at a time (bounds memory)
  FatJetClassFractions fractions{};
  double min_pt = 300.0;  ///< generated parent pT range in GeV
  double max_pt = 2000.0;
  /// dN/dpT ~ pT^-index: resonances from heavy new particles fall slowly, QCD steeply.
  double signal_spectral_index = 1.5;
  double qcd_spectral_index = 4.0;
  double mean_pileup_vertices = 40.0;  ///< mean of npv (Poisson)
  /// Simulated floats barely compress, and deflate costs more than generating them.
  root::CompressionSettings compression = root::CompressionSettings::none();
};

inline constexpr const char* fat_jets_tree = "deepntuplizer/tree";

/// DeepAK8's 17 classes as truth flags, in deepak8_classes' order.
inline constexpr std::array<const char*, 17> fat_jets_label_branches = {
    "label_Top_bcq", "label_Top_bqq", "label_Top_bc",  "label_Top_bq",  "label_W_cq",   "label_W_qq",
    "label_Z_bb",    "label_Z_cc",    "label_Z_qq",    "label_H_bb",    "label_H_cc",   "label_H_qqqq",
    "label_QCD_bb",  "label_QCD_cc",  "label_QCD_b",   "label_QCD_c",   "label_QCD_others"};

inline constexpr std::array<const char*, 15> fat_jets_jet_branches = {
    "fj_pt",   "fj_eta",  "fj_mass", "fj_sdmass", "fj_tau1",   "fj_tau2",  "fj_tau3",   "fj_tau21",
    "fj_tau32", "npv",    "n_pfcands", "n_sv",    "fj_gen_pt", "fj_nprongs", "fj_gen_mass"};

/// DeepAK8's particle inputs, in its order (42).
inline constexpr std::array<const char*, 42> fat_jets_pfcand_branches = {
    "pfcand_pt_log",       "pfcand_ptrel_log",     "pfcand_erel_log",     "pfcand_phirel",
    "pfcand_etarel",       "pfcand_deltaR",        "pfcand_abseta",       "pfcand_puppiw",
    "pfcand_drminsv",      "pfcand_drsubjet1",     "pfcand_drsubjet2",    "pfcand_charge",
    "pfcand_isMu",         "pfcand_isEl",          "pfcand_isChargedHad", "pfcand_isGamma",
    "pfcand_isNeutralHad", "pfcand_hcalFrac",      "pfcand_VTX_ass",      "pfcand_lostInnerHits",
    "pfcand_normchi2",     "pfcand_quality",       "pfcand_dz",           "pfcand_dzsig",
    "pfcand_dxy",          "pfcand_dxysig",        "pfcand_dptdpt",       "pfcand_detadeta",
    "pfcand_dphidphi",     "pfcand_dxydxy",        "pfcand_dzdz",         "pfcand_dxydz",
    "pfcand_dphidxy",      "pfcand_dlambdadz",     "pfcand_btagEtaRel",   "pfcand_btagPtRatio",
    "pfcand_btagPParRatio", "pfcand_btagSip2dVal", "pfcand_btagSip2dSig", "pfcand_btagSip3dVal",
    "pfcand_btagSip3dSig", "pfcand_btagJetDistVal"};

/// DeepAK8's secondary-vertex inputs, in its order (15).
inline constexpr std::array<const char*, 15> fat_jets_sv_branches = {
    "sv_pt_log", "sv_ptrel_log", "sv_erel_log", "sv_phirel", "sv_etarel",   "sv_deltaR", "sv_abseta",
    "sv_mass",   "sv_ntracks",   "sv_normchi2", "sv_dxy",    "sv_dxysig",   "sv_d3d",    "sv_d3dsig",
    "sv_costhetasvpv"};

inline constexpr std::size_t fat_jets_max_candidates = 100;
inline constexpr std::size_t fat_jets_max_vertices = 7;

/// One chunk of generated jets, column by column in the order of the branch lists above.
struct FatJetsChunk {
  std::size_t jets = 0;
  std::array<std::vector<std::int32_t>, 17> labels;
  std::array<std::vector<float>, 15> jet;
  std::array<std::vector<float>, 42> pfcand;
  std::array<std::vector<float>, 15> sv;
  std::vector<std::int64_t> pfcand_offsets{0}, sv_offsets{0};  ///< jets + 1 each, from 0

  void clear() {
    jets = 0;
    for (auto& c : labels) c.clear();
    for (auto& c : jet) c.clear();
    for (auto& c : pfcand) c.clear();
    for (auto& c : sv) c.clear();
    pfcand_offsets.assign(1, 0);
    sv_offsets.assign(1, 0);
  }
};

namespace fat_jets_detail {

// Indices into the branch lists.
enum Label { Top_bcq, Top_bqq, Top_bc, Top_bq, W_cq, W_qq, Z_bb, Z_cc, Z_qq, H_bb, H_cc, H_qqqq,
             QCD_bb, QCD_cc, QCD_b, QCD_c, QCD_others };
enum JetVar { fj_pt, fj_eta, fj_mass, fj_sdmass, fj_tau1, fj_tau2, fj_tau3, fj_tau21, fj_tau32, npv, n_pfcands,
              n_sv, fj_gen_pt, fj_nprongs, fj_gen_mass };
enum Cand { pt_log, ptrel_log, erel_log, phirel, etarel, deltaR, abseta, puppiw, drminsv, drsubjet1, drsubjet2,
            charge, isMu, isEl, isChargedHad, isGamma, isNeutralHad, hcalFrac, VTX_ass, lostInnerHits, normchi2,
            quality, dz, dzsig, dxy, dxysig, dptdpt, detadeta, dphidphi, dxydxy, dzdz, dxydz, dphidxy, dlambdadz,
            btagEtaRel, btagPtRatio, btagPParRatio, btagSip2dVal, btagSip2dSig, btagSip3dVal, btagSip3dSig,
            btagJetDistVal };
enum Vtx { s_pt_log, s_ptrel_log, s_erel_log, s_phirel, s_etarel, s_deltaR, s_abseta, s_mass, s_ntracks, s_normchi2,
           s_dxy, s_dxysig, s_d3d, s_d3dsig, s_costhetasvpv };

inline constexpr double jet_radius = 0.8;
inline constexpr double soft_drop_zcut = 0.1;
inline constexpr double top_mass = 172.5, w_mass = 80.4, z_mass = 91.19, higgs_mass = 125.1;
inline constexpr double b_mass = 4.8, c_mass = 1.5, light_mass = 0.0;
inline constexpr double pion_mass = 0.1396, electron_mass = 0.000511, muon_mass = 0.1057;
inline constexpr double b_hadron_mass = 5.28, b_hadron_ctau = 0.046;  // cm
inline constexpr double d_hadron_mass = 1.87;
inline constexpr double d_hadron_ctau[3] = {0.0123, 0.0312, 0.015};  // D0, D+, Ds (cm)

enum Flavour { light = 1, charm = 4, bottom = 5, gluon = 21 };
enum class Kind { charged_hadron, electron, muon, photon, neutral_hadron };

/// A parton after the decays and the shower: it fragments into particles.
struct Parton {
  double pt, eta, phi;  // eta and phi relative to the generated parent direction
  int flavour;
  bool hard;  // a decay prong (or QCD's leading parton), not a shower emission
};

/// A heavy hadron that flew before decaying; its tracks may form a secondary vertex.
struct Hadron {
  double eta, phi, pt, flight;  // flight: 3D decay length in cm
  double mass;
};

struct Particle {
  double pt, eta, phi, mass;  // measured; eta, phi relative to the parent direction
  Kind kind;
  int charge = 0;
  int parton = -1;   // -1: pile-up
  int hadron = -1;   // the heavy hadron it comes from
  double ip = 0;     // true 3D impact parameter (cm), >= 0 (lifetime)
  double puppiw = 1;
  bool pileup = false;
  double weighted_pt = 0;  // pt * puppiw: the candidates' order
  // Derived once the jet axis is known.
  double px = 0, py = 0, pz = 0, energy = 0;
};

struct Vertex {  // a reconstructed secondary vertex
  double px = 0, py = 0, pz = 0, energy = 0;
  double eta = 0, phi = 0;  // of its momentum, relative to the parent direction
  int ntracks = 0;
  double normchi2 = 0, dxy = 0, dxysig = 0, d3d = 0, d3dsig = 0, costheta = 0;
};

struct FourVector {
  double px = 0, py = 0, pz = 0, e = 0;
  void add(const Particle& p) { px += p.px; py += p.py; pz += p.pz; e += p.energy; }
  void add(const FourVector& o) { px += o.px; py += o.py; pz += o.pz; e += o.e; }
  double pt() const { return std::sqrt(px * px + py * py); }
  double mass() const { return std::sqrt(std::max(0.0, e * e - px * px - py * py - pz * pz)); }
  double eta() const { const double p = pt(); return p > 0 ? std::asinh(pz / p) : 0.0; }
  double phi() const { return std::atan2(py, px); }
};

inline double delta_phi(double a, double b) {
  double d = a - b;
  while (d > 3.141592653589793) d -= 6.283185307179586;
  while (d < -3.141592653589793) d += 6.283185307179586;
  return d;
}
inline double delta_r(double eta1, double phi1, double eta2, double phi2) {
  const double de = eta1 - eta2, dp = delta_phi(phi1, phi2);
  return std::sqrt(de * de + dp * dp);
}

class Generator {
 public:
  explicit Generator(const FatJetOptions& options) : options_(options) {
    const auto& f = options.fractions;
    const double shares[5] = {f.top, f.w, f.z, f.higgs, f.qcd};
    double total = 0;
    for (double s : shares) {
      if (!(s >= 0) || !std::isfinite(s)) throw Error("fat jets: class fractions must be finite and non-negative");
      total += s;
    }
    if (!(total > 0)) throw Error("fat jets: the class fractions add up to zero");
    double running = 0;
    for (int k = 0; k < 5; ++k) cumulative_[k] = (running += shares[k]) / total;
    cumulative_[4] = 1.0;
    if (options.chunk_jets == 0) throw Error("fat jets: chunk_jets must be at least 1");
    if (!(options.min_pt >= 100) || !(options.max_pt > options.min_pt) || !std::isfinite(options.max_pt))
      throw Error("fat jets: need 100 GeV <= min_pt < max_pt (the prongs of a boosted decay must fit in R = 0.8)");
    if (!(options.signal_spectral_index >= 0) || !(options.qcd_spectral_index >= 0) ||
        !std::isfinite(options.signal_spectral_index) || !std::isfinite(options.qcd_spectral_index))
      throw Error("fat jets: spectral indices must be finite and non-negative");
    if (!(options.mean_pileup_vertices >= 0) || !std::isfinite(options.mean_pileup_vertices))
      throw Error("fat jets: mean_pileup_vertices must be finite and non-negative");
  }

  /// Append jets [first, first + count) to `chunk`.
  void generate(std::uint64_t first, std::size_t count, FatJetsChunk& chunk) {
    // Room for ~70 candidates and 2 vertices a jet: growing 57 columns one value at a time costs.
    for (auto& c : chunk.pfcand) c.reserve(c.size() + 70 * count);
    for (auto& c : chunk.sv) c.reserve(c.size() + 2 * count);
    for (std::size_t i = 0; i < count; ++i) jet(first + i, chunk);
    chunk.jets += count;
  }

 private:
  // ---- random draws (all built on deepjet::Random, so the same on every machine's integer math) --
  double uniform() { return static_cast<double>(random_.next() >> 11) * 0x1.0p-53; }
  double open_unit() { return (static_cast<double>(random_.next() >> 11) + 1.0) * 0x1.0p-53; }
  double exponential() { return -std::log(open_unit()); }
  double normal() {  // Marsaglia's polar method (no trigonometry), the second value kept for the next call
    if (has_spare_) { has_spare_ = false; return spare_; }
    double x, y, r2;
    do {
      x = 2.0 * uniform() - 1.0;
      y = 2.0 * uniform() - 1.0;
      r2 = x * x + y * y;
    } while (r2 >= 1.0 || r2 == 0.0);
    const double scale = std::sqrt(-2.0 * std::log(r2) / r2);
    spare_ = y * scale;
    has_spare_ = true;
    return x * scale;
  }
  int poisson(double mean) {
    if (mean <= 0) return 0;
    if (mean > 40) return std::max(0, static_cast<int>(std::lround(mean + std::sqrt(mean) * normal())));
    const double limit = std::exp(-mean);
    int k = 0;
    for (double product = open_unit(); product > limit; product *= open_unit()) ++k;
    return k;
  }
  /// A direction in the (eta, phi) plane.
  void direction(double& c, double& s) {
    double x, y, r2;
    do {
      x = 2.0 * uniform() - 1.0;
      y = 2.0 * uniform() - 1.0;
      r2 = x * x + y * y;
    } while (r2 >= 1.0 || r2 < 1e-12);
    c = (x * x - y * y) / r2;
    s = 2.0 * x * y / r2;
  }
  /// A truncated power law dN/dx ~ x^-index on [low, high].
  double power_law(double low, double high, double index) {
    const double u = uniform();
    if (std::abs(index - 1.0) < 1e-9) return low * std::pow(high / low, u);
    const double a = std::pow(low, 1.0 - index), b = std::pow(high, 1.0 - index);
    return std::pow(a + u * (b - a), 1.0 / (1.0 - index));
  }

  // ---- the hard process: decays into prongs ----------------------------------------------------
  /// A two-body decay of (pt, eta, phi, mass) into daughters of masses m1, m2 in the small-angle
  /// limit: the daughters share the pT as z, 1 - z (z uniform, an isotropic decay) and open by
  /// dR^2 = (M^2 - m1^2/z - m2^2/(1-z)) / (z (1-z) pT^2), the pT-weighted axis staying the parent's.
  void decay(double pt, double eta, double phi, double mass, double m1, double m2, Parton& first, Parton& second) {
    double z = 0.5, dr2 = 0;
    for (int attempt = 0; attempt < 20; ++attempt) {
      z = 0.03 + 0.94 * uniform();
      dr2 = (mass * mass - m1 * m1 / z - m2 * m2 / (1 - z)) / (z * (1 - z) * pt * pt);
      if (dr2 > 0) break;
    }
    if (!(dr2 > 0)) {
      z = 0.5;
      dr2 = std::max(1e-6, (mass * mass - 2 * m1 * m1 - 2 * m2 * m2) / (0.25 * pt * pt));
    }
    const double dr = std::sqrt(dr2);
    double c, s;
    direction(c, s);
    first = {z * pt, eta + (1 - z) * dr * c, phi + (1 - z) * dr * s, 0, true};
    second = {(1 - z) * pt, eta - z * dr * c, phi - z * dr * s, 0, true};
  }
  static bool inside(const Parton& p) { return p.eta * p.eta + p.phi * p.phi < jet_radius * jet_radius; }
  /// W -> ud or cs (half each, CKM-suppressed others ignored); returns whether a c is among them.
  bool w_decay(double pt, double eta, double phi, double mass, Parton& q1, Parton& q2) {
    const bool cs = uniform() < 0.5;
    decay(pt, eta, phi, mass, cs ? c_mass : light_mass, light_mass, q1, q2);
    q1.flavour = cs ? charm : light;
    q2.flavour = light;
    return cs;
  }

  /// The hard prongs of one jet and its label. Resonance decays are redrawn until enough prongs
  /// fall inside R = 0.8 to give a label (at 300 GeV a top's b often falls outside).
  int hard_process(int group, double& pt) {
    partons_.clear();
    Parton a{}, b{}, c{}, d{};
    for (int attempt = 0;; ++attempt) {
      partons_.clear();
      if (attempt > 0 && attempt % 10 == 0) pt = std::min(options_.max_pt, pt * 1.1);  // rarely: boost more
      switch (group) {
        case 0: {  // top -> b W, W -> q q'
          Parton w{};
          decay(pt, 0, 0, top_mass, b_mass, w_mass, b, w);
          b.flavour = bottom;
          const bool cs = w_decay(w.pt, w.eta, w.phi, w_mass, c, d);
          const bool bin = inside(b), cin = inside(c), din = inside(d);
          if (bin && cin && din) { partons_ = {b, c, d}; return cs ? Top_bcq : Top_bqq; }
          if (bin && (cin || din)) {
            partons_ = {b, cin ? c : d};
            return cin && cs ? Top_bc : Top_bq;
          }
          if (!bin && cin && din) { partons_ = {c, d}; return cs ? W_cq : W_qq; }
          break;
        }
        case 1: {  // W -> q q'
          const bool cs = w_decay(pt, 0, 0, w_mass, a, b);
          if (inside(a) && inside(b)) { partons_ = {a, b}; return cs ? W_cq : W_qq; }
          break;
        }
        case 2: {  // Z -> bb (15 %), cc (12 %), light (73 %) of its hadronic decays
          const double u = uniform();
          const int flavour = u < 0.15 ? bottom : (u < 0.27 ? charm : light);
          const double m = flavour == bottom ? b_mass : (flavour == charm ? c_mass : light_mass);
          decay(pt, 0, 0, z_mass, m, m, a, b);
          a.flavour = b.flavour = flavour;
          if (inside(a) && inside(b)) { partons_ = {a, b}; return flavour == bottom ? Z_bb : (flavour == charm ? Z_cc : Z_qq); }
          break;
        }
        case 3: {  // H -> bb (80 %), cc (6 %), W W* -> 4 quarks (14 %), shares among these three
          const double u = uniform();
          if (u < 0.86) {
            const int flavour = u < 0.80 ? bottom : charm;
            const double m = flavour == bottom ? b_mass : c_mass;
            decay(pt, 0, 0, higgs_mass, m, m, a, b);
            a.flavour = b.flavour = flavour;
            if (inside(a) && inside(b)) { partons_ = {a, b}; return flavour == bottom ? H_bb : H_cc; }
          } else {
            const double off_shell = 15.0 + 30.0 * uniform();
            Parton w1{}, w2{};
            decay(pt, 0, 0, higgs_mass, w_mass, off_shell, w1, w2);
            w_decay(w1.pt, w1.eta, w1.phi, w_mass, a, b);
            w_decay(w2.pt, w2.eta, w2.phi, off_shell, c, d);
            if (inside(a) && inside(b) && inside(c) && inside(d)) { partons_ = {a, b, c, d}; return H_qqqq; }
          }
          break;
        }
        default: {  // QCD: a light quark or gluon, or heavy flavour (b, c, g -> bb, g -> cc)
          const double u = uniform();
          if (u < 0.03 || (u >= 0.08 && u < 0.13)) {  // gluon splitting into a heavy pair
            const bool bb = u < 0.03;
            const double m = bb ? b_mass : c_mass;
            // g -> QQ: z flat-ish, the pair's mass a few times threshold (falls as 1/m^2).
            const double pair_mass = 2 * m / std::sqrt(std::max(0.05, open_unit()));
            decay(pt, 0, 0, pair_mass, m, m, a, b);
            a.flavour = b.flavour = bb ? bottom : charm;
            a.hard = b.hard = true;
            if (inside(a) && inside(b)) { partons_ = {a, b}; return bb ? QCD_bb : QCD_cc; }
            break;
          }
          int flavour = gluon;
          int label = QCD_others;
          if (u < 0.08) { flavour = bottom; label = QCD_b; }
          else if (u < 0.20) { flavour = charm; label = QCD_c; }
          else if (u < 0.55) flavour = light;
          partons_ = {{pt, 0, 0, flavour, true}};
          return label;
        }
      }
    }
  }

  /// Shower: each parton radiates gluons with dP = (C a / pi) dz/z dtheta/theta (primary emissions
  /// only, soft z in [0.03, 0.4]); decay products radiate less and only inside their dipole.
  void shower(bool qcd) {
    const std::size_t hard = partons_.size();
    double dipole = 0;  // the widest opening among the prongs, the colour-coherent cone
    for (std::size_t i = 0; i < hard; ++i)
      for (std::size_t j = i + 1; j < hard; ++j)
        dipole = std::max(dipole, delta_r(partons_[i].eta, partons_[i].phi, partons_[j].eta, partons_[j].phi));
    for (std::size_t i = 0; i < hard; ++i) {
      const bool is_gluon = partons_[i].flavour == gluon;
      const double max_angle = qcd ? jet_radius : std::min(jet_radius, std::max(0.1, dipole));
      // Mean number of emissions: colour factor x the log ranges in z and angle (both ~2.6 here).
      const double strength = qcd ? (is_gluon ? 0.42 : 0.19) : 0.12;
      const double log_z = std::log(0.4 / 0.03), log_angle = std::log(max_angle / 0.01);
      const int emissions = poisson(strength * log_z * log_angle);
      for (int k = 0; k < emissions && partons_.size() < 12; ++k) {
        const double z = 0.03 * std::pow(0.4 / 0.03, uniform());
        const double angle = 0.01 * std::pow(max_angle / 0.01, uniform());
        double c, s;
        direction(c, s);
        Parton& emitter = partons_[i];
        // The emitter recoils so that the pair keeps its pT-weighted direction (and so its mass).
        const Parton emitted{z * emitter.pt, emitter.eta + (1 - z) * angle * c, emitter.phi + (1 - z) * angle * s, gluon, false};
        emitter.pt *= 1 - z;
        emitter.eta -= z * angle * c;
        emitter.phi -= z * angle * s;
        partons_.push_back(emitted);
      }
    }
  }

  // ---- hadronisation and detector --------------------------------------------------------------
  /// Measured pT of a particle of true pT `pt` (energy resolution of tracker, ECAL, HCAL).
  double measure(Kind kind, double pt, double energy) {
    double sigma = 0;
    switch (kind) {
      case Kind::charged_hadron: case Kind::electron: case Kind::muon: sigma = 0.006 + 0.00012 * pt; break;
      case Kind::photon: sigma = std::sqrt(0.0016 / energy + 0.0001); break;                  // 4 %/sqrt(E) + 1 %
      case Kind::neutral_hadron: sigma = std::min(0.6, std::sqrt(1.0 / energy + 0.0036)); break;  // 100 %/sqrt(E) + 6 %
    }
    return pt * std::max(0.05, 1.0 + sigma * normal());
  }

  void add_particle(Kind kind, double pt, double eta, double phi, int parton, int hadron, double ip) {
    const double energy = pt * cosh_eta_;
    double measured = measure(kind, pt, energy);
    const bool charged = kind == Kind::charged_hadron || kind == Kind::electron || kind == Kind::muon;
    const double threshold = charged ? 0.5 : (kind == Kind::photon ? 0.5 : 1.0);
    if (measured < threshold) return;
    if (charged && hadron >= 0 && uniform() < 0.1) return;  // displaced tracks are found less often
    Particle p{};
    p.pt = measured;
    p.eta = eta;
    p.phi = phi;
    if (kind == Kind::neutral_hadron) {  // HCAL cells are coarse (0.087 in eta and phi)
      p.eta += 0.025 * normal();
      p.phi += 0.025 * normal();
    }
    p.kind = kind;
    p.mass = kind == Kind::muon ? muon_mass : (kind == Kind::electron ? electron_mass : (charged ? pion_mass : 0.0));
    p.charge = charged ? (uniform() < 0.5 ? -1 : 1) : 0;
    p.parton = parton;
    p.hadron = hadron;
    p.ip = ip;
    if (!charged) p.puppiw = std::clamp(1.0 - 0.6 * std::exp(-measured / 1.5) * uniform(), 0.0, 1.0);
    particles_.push_back(p);
  }

  /// A species of a light fragmentation particle: ~62 % charged, 28 % photons, 10 % neutral hadrons.
  Kind light_kind() {
    const double u = uniform();
    if (u < 0.615) return Kind::charged_hadron;
    if (u < 0.618) return Kind::electron;
    if (u < 0.620) return Kind::muon;
    if (u < 0.90) return Kind::photon;
    return Kind::neutral_hadron;
  }

  /// Momentum sharing among n particles: weights e (1 + hardness e), e exponential (a quadratic
  /// term gives a harder leading particle; gluons share more evenly).
  void share(int n, double hardness) {
    weights_.resize(static_cast<std::size_t>(n));
    double sum = 0;
    for (auto& w : weights_) {
      const double e = exponential();
      sum += (w = e * (1.0 + hardness * e));
    }
    for (auto& w : weights_) w /= sum;
  }

  /// A heavy hadron of pT `pt` along (eta, phi) flies and decays into tracks with lifetime impact
  /// parameters (and photons, neutral hadrons, and in semileptonic decays a lepton and a neutrino).
  void heavy_hadron(bool is_b, double pt, double eta, double phi, int parton) {
    const double mass = is_b ? b_hadron_mass : d_hadron_mass;
    const double ctau = is_b ? b_hadron_ctau : d_hadron_ctau[random_.below(3)];
    const double momentum = pt * cosh_eta_;
    const double flight = momentum / mass * ctau * exponential();  // gamma beta c tau
    hadrons_.push_back({eta, phi, pt, flight, mass});
    const int hadron = static_cast<int>(hadrons_.size()) - 1;
    const bool semileptonic = uniform() < (is_b ? 0.21 : 0.1);
    const int charged = is_b ? std::min(8, 2 + poisson(2.3)) : std::min(5, 1 + poisson(1.4));
    const int photons = poisson(is_b ? 1.6 : 0.9);
    const int neutrals = poisson(is_b ? 0.3 : 0.15);
    const int n = charged + photons + neutrals + (semileptonic ? 1 : 0);  // + a neutrino
    share(n, 0.3);
    const double rest_momentum = is_b ? 1.6 : 0.7;  // typical daughter momentum in the hadron frame
    for (int k = 0; k < n; ++k) {
      const double daughter_pt = weights_[static_cast<std::size_t>(k)] * pt;
      Kind kind = k < charged ? Kind::charged_hadron : (k < charged + photons ? Kind::photon : Kind::neutral_hadron);
      if (semileptonic && k == 0) kind = uniform() < 0.5 ? Kind::muon : Kind::electron;
      if (semileptonic && k == n - 1) continue;  // the neutrino: momentum and mass the jet never sees
      const double p_star = rest_momentum * (0.4 + 1.0 * uniform());
      const double angle = std::min(0.6, p_star / (daughter_pt * cosh_eta_) * cosh_eta_);  // in (eta, phi)
      double c, s;
      direction(c, s);
      // Impact parameter of a track from a decay at distance L with angle alpha to the flight: L sin(alpha);
      // a b hadron's tracks mostly come from the D it decays to, which flies further.
      const double alpha = std::min(1.0, p_star / (daughter_pt * cosh_eta_));
      double ip = flight * std::sin(alpha);
      if (is_b && k < charged && uniform() < 0.6)
        ip += 0.4 * momentum / d_hadron_mass * 0.02 * exponential() * std::min(1.0, 0.7 / (daughter_pt * cosh_eta_));
      add_particle(kind, daughter_pt, eta + angle * c, phi + angle * s, parton, hadron, ip);
    }
  }

  /// Fragment a parton into particles around its direction: multiplicity ~ log of its pT (x1.6
  /// for gluons), transverse momentum to the parton ~0.35 GeV, so soft particles are wide.
  void fragment(int index) {
    const Parton parton = partons_[static_cast<std::size_t>(index)];
    double rest = parton.pt;
    if (parton.flavour == bottom || parton.flavour == charm) {
      const bool is_b = parton.flavour == bottom;
      const double x = std::clamp(is_b ? 0.75 + 0.12 * normal() : 0.6 + 0.15 * normal(), 0.25, 0.97);
      double c, s;
      direction(c, s);
      const double angle = std::min(0.3, 0.3 * exponential() / (x * parton.pt));
      heavy_hadron(is_b, x * parton.pt, parton.eta + angle * c, parton.phi + angle * s, index);
      rest *= 1 - x;
    }
    const bool is_gluon = parton.flavour == gluon;
    double mean = 1.0 + 4.2 * std::log1p(rest / 5.0);
    if (is_gluon) mean *= 1.6;
    const int n = 1 + poisson(mean);
    share(n, is_gluon ? 0.25 : 0.9);
    for (int k = 0; k < n; ++k) {
      const double pt = weights_[static_cast<std::size_t>(k)] * rest;
      const double kt = 0.04 + 0.25 * exponential();
      const double angle = std::min(0.5, kt / pt);
      double c, s;
      direction(c, s);
      add_particle(light_kind(), pt, parton.eta + angle * c, parton.phi + angle * s, index, -1, 0.0);
    }
  }

  /// Pile-up: soft particles spread over the jet area. Charged ones from other vertices get PUPPI
  /// weight 0 and are dropped, as DeepAK8 drops candidates below weight 0.01, except the few that
  /// are compatible with the primary vertex; neutrals get small PUPPI weights.
  void pileup(int vertices) {
    const int n = poisson(0.55 * vertices);
    for (int k = 0; k < n; ++k) {
      const double r = jet_radius * std::sqrt(uniform());
      double c, s;
      direction(c, s);
      const double pt = 0.3 + 0.9 * exponential();
      const bool charged = uniform() < 0.6;
      Particle p{};
      p.pt = pt;
      p.eta = axis_eta_ + r * c;
      p.phi = axis_phi_ + r * s;
      p.kind = charged ? Kind::charged_hadron : (uniform() < 0.7 ? Kind::photon : Kind::neutral_hadron);
      p.mass = charged ? pion_mass : 0.0;
      p.charge = charged ? (uniform() < 0.5 ? -1 : 1) : 0;
      p.pileup = true;
      if (charged) {
        if (uniform() > 0.08 || pt < 0.5) continue;  // associated elsewhere: weight 0
        p.puppiw = 1.0;
      } else {
        const double u = uniform();
        p.puppiw = 0.5 * u * u * u;
        if (p.puppiw < 0.01 || pt * p.puppiw < 0.05) continue;
      }
      particles_.push_back(p);
    }
  }

  // ---- the jet ---------------------------------------------------------------------------------
  void jet(std::uint64_t index, FatJetsChunk& out) {
    std::uint64_t mix = options_.seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
    mix = (mix ^ (mix >> 31)) * 0xbf58476d1ce4e5b9ULL;
    random_.reseed(mix ^ (index * 0xd6e8feb86659fd93ULL));
    has_spare_ = false;
    particles_.clear();
    hadrons_.clear();

    int group = 0;
    const double u = uniform();
    while (group < 4 && u > cumulative_[group]) ++group;
    const bool qcd = group == 4;
    double parent_pt = power_law(options_.min_pt, options_.max_pt,
                                 qcd ? options_.qcd_spectral_index : options_.signal_spectral_index);
    double eta = 0;
    do eta = 1.1 * normal(); while (std::abs(eta) >= 2.4);
    eta_ = eta;
    const int label = hard_process(group, parent_pt);
    const int prongs = static_cast<int>(partons_.size());
    double gen_mass = 0;
    if (!qcd) gen_mass = label <= Top_bqq ? top_mass : (label <= Top_bq ? 0.0 : (label <= W_qq ? w_mass : (label <= Z_qq ? z_mass : higgs_mass)));
    shower(qcd);
    cosh_eta_ = std::cosh(eta);

    for (int p = 0; p < static_cast<int>(partons_.size()); ++p) fragment(p);
    const int vertices = std::max(1, poisson(options_.mean_pileup_vertices));
    axis_eta_ = axis_phi_ = 0;
    pileup(vertices);

    // The jet axis: all particles within R of the parent direction, then once more around their sum.
    for (Particle& p : particles_) four_vector(p);
    for (int pass = 0; pass < 2; ++pass) {
      FourVector sum;
      for (Particle& p : particles_) {
        if (delta_r(p.eta, p.phi, axis_eta_, axis_phi_) < jet_radius) sum.add(p);
      }
      if (sum.pt() > 0) {
        axis_eta_ = sum.eta() - eta_;
        axis_phi_ = sum.phi();
      }
    }
    members_.clear();
    FourVector jet;
    for (std::size_t i = 0; i < particles_.size(); ++i)
      if (delta_r(particles_[i].eta, particles_[i].phi, axis_eta_, axis_phi_) < jet_radius) {
        members_.push_back(static_cast<int>(i));
        jet.add(particles_[i]);
      }
    const double jet_pt = jet.pt(), jet_energy = jet.e, jet_eta_abs = eta_ + axis_eta_;

    // Subjets and soft drop on the partons' reconstructed particles (see soft_drop()).
    soft_drop(jet);
    const double tau1 = tau(1, jet_pt), tau2 = tau(2, jet_pt), tau3 = tau(3, jet_pt);

    reconstruct_vertices(jet_pt);

    // ---- write ----
    for (std::size_t k = 0; k < 17; ++k) out.labels[k].push_back(static_cast<int>(k) == label ? 1 : 0);
    // Candidates by decreasing PUPPI-weighted pT, cut at 100.
    std::sort(members_.begin(), members_.end(), [&](int a, int b) {
      const double wa = particles_[static_cast<std::size_t>(a)].weighted_pt;
      const double wb = particles_[static_cast<std::size_t>(b)].weighted_pt;
      return wa > wb || (wa == wb && a < b);
    });
    log_jet_pt_ = std::log(jet_pt);
    log_jet_energy_ = std::log(jet_energy);
    cosh_jet_eta_ = std::cosh(jet_eta_abs);
    const std::size_t kept = std::min(members_.size(), fat_jets_max_candidates);
    // Row by row into a buffer, then column by column into the chunk: appending to 42 columns one
    // value at a time cost more than computing the values.
    rows_.resize(kept);
    for (std::size_t m = 0; m < kept; ++m) candidate(particles_[static_cast<std::size_t>(members_[m])], rows_[m]);
    for (std::size_t k = 0; k < 42; ++k) {
      auto& column = out.pfcand[k];
      const std::size_t base = column.size();
      column.resize(base + kept);
      for (std::size_t m = 0; m < kept; ++m) column[base + m] = rows_[m][k];
    }
    out.pfcand_offsets.push_back(out.pfcand_offsets.back() + static_cast<std::int64_t>(kept));
    const std::size_t nsv = std::min(vertices_.size(), fat_jets_max_vertices);
    for (std::size_t v = 0; v < nsv; ++v) vertex(vertices_[v], jet_pt, jet_energy, out);
    out.sv_offsets.push_back(out.sv_offsets.back() + static_cast<std::int64_t>(nsv));

    const float values[15] = {static_cast<float>(jet_pt), static_cast<float>(jet_eta_abs),
                              static_cast<float>(jet.mass()), static_cast<float>(sd_mass_),
                              static_cast<float>(tau1), static_cast<float>(tau2), static_cast<float>(tau3),
                              static_cast<float>(tau1 > 0 ? tau2 / tau1 : 0), static_cast<float>(tau2 > 0 ? tau3 / tau2 : 0),
                              static_cast<float>(vertices), static_cast<float>(kept), static_cast<float>(nsv),
                              static_cast<float>(parent_pt), static_cast<float>(qcd ? 0 : prongs),
                              static_cast<float>(gen_mass)};
    for (std::size_t k = 0; k < 15; ++k) out.jet[k].push_back(values[k]);
  }

  void four_vector(Particle& p) const {  // PUPPI-weighted, as DeepAK8's candidates
    const double w = p.puppiw, pt = p.pt * w;
    p.weighted_pt = pt;
    const double e = std::exp(eta_ + p.eta), ch = 0.5 * (e + 1 / e), sh = 0.5 * (e - 1 / e);
    p.px = pt * std::cos(p.phi);
    p.py = pt * std::sin(p.phi);
    p.pz = pt * sh;
    p.energy = std::sqrt(pt * pt * ch * ch + p.mass * p.mass * w * w);
  }

  /// Soft drop (zcut 0.1, beta 0) on a Cambridge/Aachen clustering of the partons' particle sums:
  /// the declustering drops the softer branch until both branches carry at least zcut of their
  /// sum; the jet's soft-drop mass is then the mass of the kept partons' particles (pile-up and
  /// dropped radiation excluded), and the two branches are the subjets.
  void soft_drop(const FourVector& jet) {
    const std::size_t np = partons_.size();
    nodes_.assign(np, {});
    for (int i : members_) {
      const Particle& p = particles_[static_cast<std::size_t>(i)];
      if (p.parton >= 0) nodes_[static_cast<std::size_t>(p.parton)].momentum.add(p);
    }
    active_.clear();
    for (std::size_t i = 0; i < np; ++i) {
      nodes_[i].settle();
      if (nodes_[i].momentum.pt() > 0) active_.push_back(static_cast<int>(i));
    }
    if (active_.empty()) {
      sd_mass_ = jet.mass();
      subjet_count_ = 0;
      return;
    }
    while (active_.size() > 1) {  // C/A: merge the closest pair
      std::size_t bi = 0, bj = 1;
      double best = 1e9;
      for (std::size_t i = 0; i < active_.size(); ++i)
        for (std::size_t j = i + 1; j < active_.size(); ++j) {
          const Node& a = nodes_[static_cast<std::size_t>(active_[i])];
          const Node& b = nodes_[static_cast<std::size_t>(active_[j])];
          const double d = delta_r(a.eta, a.phi, b.eta, b.phi);
          if (d < best) { best = d; bi = i; bj = j; }
        }
      Node merged;
      merged.momentum = nodes_[static_cast<std::size_t>(active_[bi])].momentum;
      merged.momentum.add(nodes_[static_cast<std::size_t>(active_[bj])].momentum);
      merged.settle();
      merged.left = active_[bi];
      merged.right = active_[bj];
      nodes_.push_back(merged);
      active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(bj));
      active_[bi] = static_cast<int>(nodes_.size()) - 1;
    }
    int node = active_[0];
    while (nodes_[static_cast<std::size_t>(node)].left >= 0) {
      const Node& n = nodes_[static_cast<std::size_t>(node)];
      const double p1 = nodes_[static_cast<std::size_t>(n.left)].momentum.pt();
      const double p2 = nodes_[static_cast<std::size_t>(n.right)].momentum.pt();
      if (std::min(p1, p2) / (p1 + p2) > soft_drop_zcut) break;
      node = p1 >= p2 ? n.left : n.right;
    }
    const Node& top = nodes_[static_cast<std::size_t>(node)];
    sd_mass_ = top.momentum.mass();
    subjet_count_ = top.left >= 0 ? 2 : 1;
    const FourVector& s1 = top.left >= 0 ? nodes_[static_cast<std::size_t>(top.left)].momentum : top.momentum;
    subjet_eta_[0] = s1.eta() - eta_;
    subjet_phi_[0] = s1.phi();
    if (top.left >= 0) {
      const FourVector& s2 = nodes_[static_cast<std::size_t>(top.right)].momentum;
      subjet_eta_[1] = s2.eta() - eta_;
      subjet_phi_[1] = s2.phi();
      if (s2.pt() > s1.pt()) {
        std::swap(subjet_eta_[0], subjet_eta_[1]);
        std::swap(subjet_phi_[0], subjet_phi_[1]);
      }
    }
  }

  /// N-subjettiness (beta 1, normalised by pT R): the axes are the N hardest partons' particle
  /// sums inside the jet (an exclusive-kT-like choice that needs no reclustering).
  double tau(int n, double jet_pt) {
    axes_.clear();
    for (const Node& node : nodes_)
      if (node.left < 0 && node.momentum.pt() > 0) axes_.push_back({node.momentum.pt(), node.eta - eta_, node.phi});
    std::sort(axes_.begin(), axes_.end(), [](const Axis& a, const Axis& b) { return a.pt > b.pt; });
    if (axes_.size() > static_cast<std::size_t>(n)) axes_.resize(static_cast<std::size_t>(n));
    if (axes_.empty() || !(jet_pt > 0)) return 0;
    double sum = 0;
    for (int i : members_) {
      const Particle& p = particles_[static_cast<std::size_t>(i)];
      double nearest = 1e9;
      for (const Axis& a : axes_) nearest = std::min(nearest, delta_r(p.eta, p.phi, a.eta, a.phi));
      sum += p.pt * p.puppiw * nearest;
    }
    return sum / (jet_pt * jet_radius);
  }

  /// Secondary vertices: a heavy hadron whose tracks (pT > 0.8 GeV, 3D IP significance > 2) number
  /// at least two, with a resolved flight, is found; a few fake vertices (V0s, material,
  /// random track pairs) appear in any jet. Sorted by decreasing dxy significance.
  void reconstruct_vertices(double jet_pt) {
    vertices_.clear();
    std::vector<Vertex>& found = vertices_;
    for (std::size_t h = 0; h < hadrons_.size(); ++h) {
      Vertex v;
      for (int i : members_) {
        const Particle& p = particles_[static_cast<std::size_t>(i)];
        if (p.hadron != static_cast<int>(h) || p.charge == 0 || p.pt < 0.8) continue;
        if (p.ip / ip_resolution_3d(p.pt) < 2.0) continue;
        v.px += p.px; v.py += p.py; v.pz += p.pz; v.energy += p.energy;
        ++v.ntracks;
      }
      const Hadron& hadron = hadrons_[h];
      const double sigma3d = 0.006 + 0.02 * hadron.flight / 2.0;
      const double d3d = hadron.flight + sigma3d * normal();
      if (v.ntracks < 2 || d3d / sigma3d < 3.0) continue;
      FourVector m{v.px, v.py, v.pz, v.energy};
      v.eta = m.eta() - eta_;
      v.phi = m.phi();
      // The flight direction vs the tracks' momentum: they differ by what the tracks miss
      // (neutrals, neutrinos, lost tracks) and the position resolution.
      const double missing = delta_r(v.eta, v.phi, hadron.eta, hadron.phi) / cosh_eta_;
      const double angle = std::hypot(missing, sigma3d / std::max(d3d, 1e-3) * normal());
      v.costheta = std::cos(angle);
      v.d3d = std::max(0.0, d3d);
      v.d3dsig = v.d3d / sigma3d;
      const double transverse = 1.0 / cosh_eta_;
      const double sigma_xy = 0.5 * sigma3d * (0.7 + 0.3 * transverse);
      v.dxy = v.d3d * transverse;
      v.dxysig = v.dxy / sigma_xy;
      v.normchi2 = 0.2 + 0.8 * exponential() * (v.ntracks > 2 ? 1.0 : 0.7);
      found.push_back(v);
    }
    const int fakes = poisson(0.25 + 0.0002 * jet_pt);
    for (int k = 0; k < fakes; ++k) {
      Vertex v;
      const bool v0 = uniform() < 0.4;
      const double mass = v0 ? 0.498 + 0.008 * normal() : 0.3 + 1.0 * uniform();
      const double pt = (2.0 + 8.0 * exponential()) * std::min(2.0, jet_pt / 500.0);
      const double r = jet_radius * std::sqrt(uniform());
      double c, s;
      direction(c, s);
      v.eta = axis_eta_ + r * c;
      v.phi = axis_phi_ + r * s;
      const double e = std::exp(eta_ + v.eta), ch = 0.5 * (e + 1 / e), sh = 0.5 * (e - 1 / e);
      v.px = pt * std::cos(v.phi);
      v.py = pt * std::sin(v.phi);
      v.pz = pt * sh;
      v.energy = std::sqrt(pt * pt * ch * ch + mass * mass);
      v.ntracks = 2 + (uniform() < 0.2 ? 1 : 0);
      v.d3d = v0 ? 2.0 * exponential() : 0.05 + 0.1 * exponential();
      v.d3dsig = v0 ? 20 + 40 * uniform() : 3 + 5 * uniform();
      v.dxy = v.d3d / ch;
      v.dxysig = v.d3dsig * (0.8 + 0.2 * uniform());
      v.costheta = std::cos(v0 ? 0.005 * exponential() : 0.05 * exponential());
      v.normchi2 = 0.5 + 2.0 * exponential();
      found.push_back(v);
    }
    std::sort(found.begin(), found.end(), [](const Vertex& a, const Vertex& b) { return a.dxysig > b.dxysig; });
  }

  static double ip_resolution_xy(double pt) { return 0.0015 + 0.009 / pt; }  // cm: 15 um + 90 um GeV / pT
  static double ip_resolution_3d(double pt) { return 1.6 * ip_resolution_xy(pt); }

  void candidate(const Particle& p, std::array<float, 42>& f) {
    f.fill(0.0f);
    const double w = p.puppiw, pt = p.pt * w;
    const double deta = p.eta - axis_eta_, dphi = delta_phi(p.phi, axis_phi_);
    const double dr = std::sqrt(deta * deta + dphi * dphi);
    const double jet_eta = eta_ + axis_eta_;
    const double log_pt = std::log(pt);
    f[pt_log] = static_cast<float>(log_pt);
    f[ptrel_log] = static_cast<float>(log_pt - log_jet_pt_);
    f[erel_log] = static_cast<float>(std::log(p.energy) - log_jet_energy_);
    f[phirel] = static_cast<float>(dphi);
    f[etarel] = static_cast<float>(jet_eta >= 0 ? deta : -deta);  // CMS flips the sign with the jet's
    f[deltaR] = static_cast<float>(dr);
    f[abseta] = static_cast<float>(std::abs(eta_ + p.eta));
    f[puppiw] = static_cast<float>(w);
    double nearest_sv = jet_radius;
    for (std::size_t v = 0; v < std::min(vertices_.size(), fat_jets_max_vertices); ++v)
      nearest_sv = std::min(nearest_sv, delta_r(p.eta, p.phi, vertices_[v].eta, vertices_[v].phi));
    f[drminsv] = static_cast<float>(nearest_sv);
    f[drsubjet1] = subjet_count_ >= 1 ? static_cast<float>(delta_r(p.eta, p.phi, subjet_eta_[0], subjet_phi_[0])) : 0.0f;
    f[drsubjet2] = subjet_count_ >= 2 ? static_cast<float>(delta_r(p.eta, p.phi, subjet_eta_[1], subjet_phi_[1])) : 0.0f;
    f[charge] = static_cast<float>(p.charge);
    f[isMu] = p.kind == Kind::muon;
    f[isEl] = p.kind == Kind::electron;
    f[isChargedHad] = p.kind == Kind::charged_hadron;
    f[isGamma] = p.kind == Kind::photon;
    f[isNeutralHad] = p.kind == Kind::neutral_hadron;
    switch (p.kind) {
      case Kind::charged_hadron: f[hcalFrac] = static_cast<float>(uniform() < 0.2 ? 0.0 : 0.3 + 0.6 * uniform()); break;
      case Kind::neutral_hadron: f[hcalFrac] = static_cast<float>(0.85 + 0.15 * uniform()); break;
      default: f[hcalFrac] = 0; break;
    }
    if (p.charge == 0) {
      f[normchi2] = 999;  // no track: the ntuples' default
      return;
    }
    // A track: impact parameters (true lifetime IP plus resolution), its quality, its covariance.
    const double sxy = ip_resolution_xy(p.pt), sz = 1.5 * sxy, s3d = ip_resolution_3d(p.pt);
    const double split = uniform();  // how the 3D IP divides into transverse and longitudinal
    const double ip_xy = p.ip * std::sqrt(split), ip_z = p.ip * std::sqrt(1 - split);
    const double geometric = uniform() < 0.5 ? -1.0 : 1.0;
    double track_dz = (uniform() < 0.5 ? -ip_z : ip_z) + sz * normal();
    if (p.pileup) track_dz += 0.05 * normal();  // compatible with the PV, but only just
    const double track_dxy = geometric * ip_xy + sxy * normal();
    const double lifetime_sign = p.ip > 0 && uniform() < 0.92 ? 1.0 : (p.ip > 0 ? -1.0 : 0.0);
    const double sip2d = (lifetime_sign != 0 ? lifetime_sign * ip_xy : 0.0) + sxy * normal();
    const double sip3d = (lifetime_sign != 0 ? lifetime_sign * p.ip : 0.0) + s3d * normal();
    const bool displaced = std::abs(sip3d) / s3d > 3.0;
    f[VTX_ass] = p.pileup ? 5.0f : (displaced ? (uniform() < 0.5 ? 4.0f : 5.0f) : (uniform() < 0.92 ? 7.0f : 6.0f));
    f[lostInnerHits] = (p.ip > 0.3 || uniform() < 0.08) ? 0.0f : -1.0f;
    f[normchi2] = static_cast<float>(0.3 + 0.7 * exponential() * (p.hadron >= 0 ? 1.3 : 1.0));
    f[quality] = uniform() < 0.96 ? 4.0f : 0.0f;  // highPurity
    f[dz] = static_cast<float>(track_dz);
    f[dzsig] = static_cast<float>(track_dz / sz);
    f[dxy] = static_cast<float>(track_dxy);
    f[dxysig] = static_cast<float>(track_dxy / sxy);
    const double relative_pt = 0.006 + 0.00012 * p.pt, angular = 0.0005 + 0.002 / p.pt;
    f[dptdpt] = static_cast<float>(relative_pt * relative_pt * p.pt * p.pt);
    f[detadeta] = static_cast<float>(angular * angular);
    f[dphidphi] = static_cast<float>(angular * angular);
    f[dxydxy] = static_cast<float>(sxy * sxy);
    f[dzdz] = static_cast<float>(sz * sz);
    f[dxydz] = static_cast<float>(0.1 * (2 * uniform() - 1) * sxy * sz);
    f[dphidxy] = static_cast<float>(-0.5 * angular * sxy);
    f[dlambdadz] = static_cast<float>(-0.5 * angular * sz / cosh_eta_);
    // Track b-tag variables relative to the jet axis: the angle between track and jet directions
    // is dR / cosh(eta) for small separations.
    const double theta = std::max(1e-4, dr / cosh_jet_eta_);
    const double t = std::tan(0.5 * theta);  // sin and cos from the half-angle tangent: one call, not three
    f[btagEtaRel] = static_cast<float>(-std::log(t));
    f[btagPtRatio] = static_cast<float>(2 * t / (1 + t * t));
    f[btagPParRatio] = static_cast<float>((1 - t * t) / (1 + t * t));
    f[btagSip2dVal] = static_cast<float>(sip2d);
    f[btagSip2dSig] = static_cast<float>(sip2d / sxy);
    f[btagSip3dVal] = static_cast<float>(sip3d);
    f[btagSip3dSig] = static_cast<float>(sip3d / s3d);
    f[btagJetDistVal] = static_cast<float>(-std::abs(p.ip) * (0.1 + 0.7 * uniform()) - 0.001 * std::abs(normal()));
  }

  void vertex(const Vertex& v, double jet_pt, double jet_energy, FatJetsChunk& out) const {
    const FourVector m{v.px, v.py, v.pz, v.energy};
    const double pt = m.pt();
    const double deta = v.eta - axis_eta_, dphi = delta_phi(v.phi, axis_phi_);
    const double jet_eta = eta_ + axis_eta_;
    const float f[15] = {static_cast<float>(std::log(pt)), static_cast<float>(std::log(pt / jet_pt)),
                         static_cast<float>(std::log(v.energy / jet_energy)), static_cast<float>(dphi),
                         static_cast<float>(jet_eta >= 0 ? deta : -deta), static_cast<float>(std::hypot(deta, dphi)),
                         static_cast<float>(std::abs(eta_ + v.eta)), static_cast<float>(m.mass()),
                         static_cast<float>(v.ntracks), static_cast<float>(v.normchi2), static_cast<float>(v.dxy),
                         static_cast<float>(v.dxysig), static_cast<float>(v.d3d), static_cast<float>(v.d3dsig),
                         static_cast<float>(v.costheta)};
    for (std::size_t k = 0; k < 15; ++k) out.sv[k].push_back(f[k]);
  }

  struct Node {
    FourVector momentum;
    double eta = 0, phi = 0;  // of momentum (absolute eta), cached: C/A compares them often
    int left = -1, right = -1;
    void settle() { eta = momentum.eta(); phi = momentum.phi(); }
  };
  struct Axis { double pt, eta, phi; };

  FatJetOptions options_;
  double cumulative_[5]{};
  Random random_;
  bool has_spare_ = false;
  double spare_ = 0;
  double eta_ = 0, cosh_eta_ = 1, axis_eta_ = 0, axis_phi_ = 0;
  double sd_mass_ = 0;
  double log_jet_pt_ = 0, log_jet_energy_ = 0, cosh_jet_eta_ = 1;
  int subjet_count_ = 0;
  double subjet_eta_[2]{}, subjet_phi_[2]{};
  std::vector<Parton> partons_;
  std::vector<Hadron> hadrons_;
  std::vector<Particle> particles_;
  std::vector<Vertex> vertices_;
  std::vector<double> weights_;
  std::vector<int> members_, active_;
  std::vector<Node> nodes_;
  std::vector<Axis> axes_;
  std::vector<std::array<float, 42>> rows_;
};

}  // namespace fat_jets_detail

/// Generates fat jets chunk by chunk (in memory); generate_fat_jets writes them.
class FatJetGenerator {
 public:
  explicit FatJetGenerator(const FatJetOptions& options) : generator_(options) {}
  /// Clear `chunk` and fill it with jets [first, first + count).
  void generate(std::uint64_t first, std::size_t count, FatJetsChunk& chunk) {
    chunk.clear();
    generator_.generate(first, count, chunk);
  }

 private:
  fat_jets_detail::Generator generator_;
};

/// Write `options.jets` fat jets to the ROOT file `path` (see the contract at the top of this file).
inline void generate_fat_jets(const std::filesystem::path& path, const FatJetOptions& options = {}) {
  FatJetGenerator generator(options);  // validates the options before any file is made
  root::WriteOptions write_options;
  write_options.compression = options.compression;
  write_options.title = "deepjet example fat jets";
  root::FileWriter file(path, write_options);
  root::TreeWriter& tree = file.make_tree(fat_jets_tree, "AK8 example jets with DeepAK8 inputs");
  for (const char* name : fat_jets_label_branches) tree.add_branch<std::int32_t>(name);
  for (const char* name : fat_jets_jet_branches) tree.add_branch<float>(name);
  for (const char* name : fat_jets_pfcand_branches) tree.add_vector_branch<float>(name);
  for (const char* name : fat_jets_sv_branches) tree.add_vector_branch<float>(name);
  FatJetsChunk chunk;
  for (std::uint64_t first = 0; first < options.jets; first += options.chunk_jets) {
    const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(options.chunk_jets, options.jets - first));
    generator.generate(first, count, chunk);
    for (std::size_t k = 0; k < chunk.labels.size(); ++k) tree.write<std::int32_t>(fat_jets_label_branches[k], chunk.labels[k]);
    for (std::size_t k = 0; k < chunk.jet.size(); ++k) tree.write<float>(fat_jets_jet_branches[k], chunk.jet[k]);
    for (std::size_t k = 0; k < chunk.pfcand.size(); ++k)
      tree.write_jagged<float>(fat_jets_pfcand_branches[k], chunk.pfcand[k], chunk.pfcand_offsets);
    for (std::size_t k = 0; k < chunk.sv.size(); ++k)
      tree.write_jagged<float>(fat_jets_sv_branches[k], chunk.sv[k], chunk.sv_offsets);
  }
  file.close();
}

}  // namespace deepjet::example_data
