// deepjet/example_data/deepjet_jets.hpp: a deterministic generator of DeepNTuple-like example jets.
//
// Contract: generate_example_jets(path, options) writes `options.jets` jets to `path`, under
// "deepntuplizer/tree", the tree path of the CMS DeepNTuples ntupler: a path ending in ".root" gets
// a ROOT file (TDirectory deepntuplizer, TTree tree, written by deepjet's ROOT writer) laid out as
// the ntupler writes it, flat branches per jet and candidate lists as counted float arrays
// (Cpfcan_ptrel[n_Cpfcand]/F), zlib-compressed by default; any other path gets a deepjet source
// table in HDF5 (data/source_table.hpp) with the same branches. Both read back identically. It
// holds, per jet:
//   - truth flags (int32, one-hot): isB, isBB, isGBB, isLeptonicB, isLeptonicB_C, isC, isGCC, isCC,
//     isUD, isS, isG, and isUndefined (always 0); DeepJet's six classes are b = isB,
//     bb = isBB + isGBB, lepb = isLeptonicB + isLeptonicB_C, c = isC + isGCC + isCC, uds = isUD + isS,
//     g = isG;
//   - the 15 global features of DeepJet (example_jets_global_branches);
//   - charged candidates (16 features, counted by "n_Cpfcand"), neutral candidates (6, "n_Npfcand") and
//     secondary vertices (12, "n_sv"), every candidate of the jet (no truncation at 25), ordered
//     as the ntupler orders them: charged by decreasing signed 2D IP significance, neutrals nearest
//     to an SV first then by decreasing pT, vertices by decreasing transverse flight significance.
// Values follow the ntupler's storage conventions, offsets and clamps included (e.g. Cpfcan_ptrel
// is pT/jet pT - 1, sv_deltaR is dR - 0.5, a missing AboveCharm value is -999): the files look like
// real ntuples to a converter. docs/example-jets.md lists every branch and what is simulated.
//
// Determinism: jet i is drawn from its own deepjet::Random seeded from (seed, i), so the same
// (seed, jets) gives the same arrays whatever the chunk size, and the first n jets of a larger run
// are the n jets of a smaller one. (Bit-identical across machines needs the same math library and
// floating-point contraction settings; within one build it is exact.)
// Memory: one chunk of `chunk_jets` jets (~1 kB each) is generated, appended and dropped at a time.
// Speed: ~200k jets/s per core. HDF5 tables are written uncompressed by default (floats from a
// simulation barely compress, and deflate would cost several times the generation); ROOT files with
// ROOT's default, zlib level 1, as the ntupler's files are.
// Errors: bad options throw deepjet::Error; a file that cannot be written throws deepjet::FileError
// naming it, and nothing is left at `path` (the writer works on a temporary name).
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/core/random.hpp"
#include "deepjet/data/source_table.hpp"
#include "deepjet/io/root_writer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace deepjet::data {

/// Share of each DeepJet class among the generated jets (normalised to their sum).
struct ExampleJetsClassFractions {
  double b = 0.22;
  double bb = 0.04;
  double lepb = 0.08;
  double c = 0.14;
  double uds = 0.32;
  double g = 0.20;
};

struct ExampleJetsOptions {
  std::uint64_t jets = 100000;
  std::uint64_t seed = 1;
  std::size_t chunk_jets = 8192;        ///< jets generated and written at a time (bounds memory)
  ExampleJetsClassFractions fractions{};
  double mean_pileup_vertices = 25.0;   ///< mean of npv (Poisson)
  double min_pt = 30.0;                 ///< jet pT range in GeV
  double max_pt = 1000.0;
  /// Deflate (zlib) level of the file, 0 (none) to 9, or -1: the format's default, none for HDF5
  /// (simulated floats barely compress, ~0.6 of their size at level 1, while deflate costs more
  /// than generating them) and 1 for ROOT (ROOT's default, as the ntupler's files).
  int compression_level = -1;
};

inline constexpr const char* example_jets_table = "deepntuplizer/tree";

inline constexpr std::array<const char*, 12> example_jets_truth_branches = {
    "isB", "isBB", "isGBB", "isLeptonicB", "isLeptonicB_C", "isC", "isGCC", "isCC", "isUD", "isS", "isG", "isUndefined"};

inline constexpr std::array<const char*, 15> example_jets_global_branches = {
    "jet_pt", "jet_eta", "nCpfcand", "nNpfcand", "nsv", "npv",
    "TagVarCSV_trackSumJetEtRatio", "TagVarCSV_trackSumJetDeltaR", "TagVarCSV_vertexCategory",
    "TagVarCSV_trackSip2dValAboveCharm", "TagVarCSV_trackSip2dSigAboveCharm",
    "TagVarCSV_trackSip3dValAboveCharm", "TagVarCSV_trackSip3dSigAboveCharm",
    "TagVarCSV_jetNSelectedTracks", "TagVarCSV_jetNTracksEtaRel"};

inline constexpr const char* example_jets_charged_offsets = "n_Cpfcand";
inline constexpr std::array<const char*, 16> example_jets_charged_branches = {
    "Cpfcan_BtagPf_trackEtaRel", "Cpfcan_BtagPf_trackPtRel", "Cpfcan_BtagPf_trackPPar",
    "Cpfcan_BtagPf_trackDeltaR", "Cpfcan_BtagPf_trackPParRatio", "Cpfcan_BtagPf_trackSip2dVal",
    "Cpfcan_BtagPf_trackSip2dSig", "Cpfcan_BtagPf_trackSip3dVal", "Cpfcan_BtagPf_trackSip3dSig",
    "Cpfcan_BtagPf_trackJetDistVal", "Cpfcan_ptrel", "Cpfcan_drminsv", "Cpfcan_VTX_ass", "Cpfcan_puppiw",
    "Cpfcan_chi2", "Cpfcan_quality"};

inline constexpr const char* example_jets_neutral_offsets = "n_Npfcand";
inline constexpr std::array<const char*, 6> example_jets_neutral_branches = {
    "Npfcan_ptrel", "Npfcan_deltaR", "Npfcan_isGamma", "Npfcan_HadFrac", "Npfcan_drminsv", "Npfcan_puppiw"};

inline constexpr const char* example_jets_sv_offsets = "n_sv";
inline constexpr std::array<const char*, 12> example_jets_sv_branches = {
    "sv_pt", "sv_deltaR", "sv_mass", "sv_ntracks", "sv_chi2", "sv_normchi2",
    "sv_dxy", "sv_dxysig", "sv_d3d", "sv_d3dsig", "sv_costhetasvpv", "sv_enratio"};

/// One chunk of generated jets, column by column in the order of the branch lists above.
struct ExampleJetsChunk {
  std::size_t jets = 0;
  std::array<std::vector<std::int32_t>, 12> truth;
  std::array<std::vector<float>, 15> global;
  std::array<std::vector<float>, 16> charged;
  std::array<std::vector<float>, 6> neutral;
  std::array<std::vector<float>, 12> sv;
  std::vector<std::int64_t> charged_counts, neutral_counts, sv_counts;

  void clear() {
    jets = 0;
    for (auto& c : truth) c.clear();
    for (auto& c : global) c.clear();
    for (auto& c : charged) c.clear();
    for (auto& c : neutral) c.clear();
    for (auto& c : sv) c.clear();
    charged_counts.clear();
    neutral_counts.clear();
    sv_counts.clear();
  }
};

namespace example_jets_detail {

// ---- random draws beyond deepjet::Random's own (all built on it, so equally portable) ---------

/// Uniform in (0, 1] with 53 bits: safe to take the logarithm of.
inline double open_unit(Random& random) { return (static_cast<double>(random.next() >> 11) + 1.0) * 0x1.0p-53; }
/// Exponential with mean 1.
inline double exponential(Random& random) { return -std::log(open_unit(random)); }
/// Poisson with the given mean (Knuth's product of uniforms; normal approximation above 60).
inline int poisson(Random& random, double mean) {
  if (mean <= 0) return 0;
  if (mean > 60) return std::max(0, static_cast<int>(std::lround(mean + std::sqrt(mean) * random.normal())));
  const double limit = std::exp(-mean);
  int k = 0;
  for (double product = open_unit(random); product > limit; product *= open_unit(random)) ++k;
  return k;
}

/// Two independent standard normals (Box-Muller, both halves of the pair).
inline void normal_pair(Random& random, double& first, double& second) {
  const double radius = std::sqrt(-2.0 * std::log(open_unit(random)));
  const double angle = 6.283185307179586 * (static_cast<double>(random.next() >> 11) * 0x1.0p-53);
  first = radius * std::cos(angle);
  second = radius * std::sin(angle);
}
/// A uniformly distributed direction in the plane, (cos phi, sin phi), without trigonometry.
inline void unit_circle(Random& random, double& cos_phi, double& sin_phi) {
  double x, y, r2;
  do {
    x = 2.0 * random.uniform() - 1.0;
    y = 2.0 * random.uniform() - 1.0;
    r2 = x * x + y * y;
  } while (r2 >= 1.0 || r2 < 1e-12);
  cos_phi = (x * x - y * y) / r2;
  sin_phi = 2.0 * x * y / r2;
}

// Classes in the order of ExampleJetsClassFractions.
enum JetClass { class_b, class_bb, class_lepb, class_c, class_uds, class_g };
// Truth flags in the order of example_jets_truth_branches.
enum Flag { isB, isBB, isGBB, isLeptonicB, isLeptonicB_C, isC, isGCC, isCC, isUD, isS, isG };
enum Charged { trackEtaRel, trackPtRel, trackPPar, trackDeltaR, trackPParRatio, trackSip2dVal, trackSip2dSig,
               trackSip3dVal, trackSip3dSig, trackJetDistVal, cpf_ptrel, cpf_drminsv, cpf_VTX_ass, cpf_puppiw,
               cpf_chi2, cpf_quality };
enum Neutral { npf_ptrel, npf_deltaR, npf_isGamma, npf_HadFrac, npf_drminsv, npf_puppiw };
enum Vertex { sv_pt, sv_deltaR, sv_mass, sv_ntracks, sv_chi2, sv_normchi2, sv_dxy, sv_dxysig, sv_d3d, sv_d3dsig,
              sv_costhetasvpv, sv_enratio };
enum Global { jet_pt, jet_eta, nCpfcand, nNpfcand, nsv, npv, trackSumJetEtRatio, trackSumJetDeltaR, vertexCategory,
              trackSip2dValAboveCharm, trackSip2dSigAboveCharm, trackSip3dValAboveCharm, trackSip3dSigAboveCharm,
              jetNSelectedTracks, jetNTracksEtaRel };

struct Vec3 {
  double x = 0, y = 0, z = 0;
  Vec3 operator+(const Vec3& o) const { return {x + o.x, y + o.y, z + o.z}; }
  Vec3 operator-(const Vec3& o) const { return {x - o.x, y - o.y, z - o.z}; }
  Vec3 operator*(double s) const { return {x * s, y * s, z * s}; }
  Vec3& operator+=(const Vec3& o) { x += o.x; y += o.y; z += o.z; return *this; }
  double dot(const Vec3& o) const { return x * o.x + y * o.y + z * o.z; }
  Vec3 cross(const Vec3& o) const { return {y * o.z - z * o.y, z * o.x - x * o.z, x * o.y - y * o.x}; }
  double norm() const { return std::sqrt(dot(*this)); }
};

inline constexpr double pion_mass = 0.1396, kaon_mass = 0.4937, proton_mass = 0.9383;
inline constexpr double muon_mass = 0.1057, pi0_mass = 0.1350, neutral_kaon_mass = 0.4976;
inline constexpr double jet_radius = 0.4;
inline constexpr double charm_mass_threshold = 1.5;  // the CSV "AboveCharm" mass

// Particle species and what they are to the detector.
enum class Kind { charged, photon, neutral_hadron, neutrino, hadron /* decays further: a D from a B */ };
enum class Source { prompt, pileup, decay, v0, material };

// Hadrons that fly: mass (GeV) and c*tau (cm).
struct Species { double mass, ctau; };
inline constexpr Species b_hadrons[4] = {{5.2797, 0.0455}, {5.2793, 0.0491}, {5.3669, 0.0452}, {5.6196, 0.0441}};
inline constexpr double b_hadron_share[4] = {0.40, 0.40, 0.10, 0.10};  // B0, B+, Bs, Lambda_b
inline constexpr Species d_hadrons[4] = {{1.8648, 0.0123}, {1.8697, 0.0312}, {1.9683, 0.0150}, {2.2865, 0.0060}};
inline constexpr double d_hadron_share[4] = {0.55, 0.25, 0.12, 0.08};  // D0, D+, Ds, Lambda_c
inline constexpr Species k_short{0.4976, 2.6844}, lambda{1.1157, 7.89};

struct Particle {
  Vec3 momentum;  // GeV, jet frame: z along the jet axis
  Vec3 origin;    // cm, jet frame, primary vertex at 0
  double mass = 0;
  Kind kind = Kind::charged;
  Source source = Source::prompt;
  int vertex = -1;  // decay vertex it comes from
};

struct DecayVertex {
  Vec3 position;
  int parent = -1;  // the vertex the decaying hadron came from (a D from a B: the B's vertex)
  bool vetoed = false;  // a V0 or a nuclear interaction: the vertex finder rejects most of them
};

// A daughter in a decay recipe; a D hadron decays further.
enum class Decays { no, d_hadron };
struct Daughter {
  double mass;
  Kind kind;
  double momentum_weight = 1.0;  // leptons take a larger share of the rest-frame momentum
  Decays decays = Decays::no;
};

struct Track {  // a reconstructed charged candidate and its features before the ntupler's clamps
  int particle = 0;
  double pt = 0, delta_r = 0;
  double sip2d_val = 0, sip2d_sig = 0, sip3d_val = 0, sip3d_sig = 0;
  double jet_dist = 0, chi2 = 0;
  int vtx_ass = 7, quality = 7;
  float puppiw = 1;
  double drminsv = jet_radius;
  int sv = -1;  // the reconstructed SV it belongs to
  bool selected = false;
};

struct SecondaryVertex {
  Vec3 momentum;
  double energy = 0, mass = 0;
  int ntracks = 0;
  double chi2 = 0, ndf = 1;
  double dxy = 0, dxysig = 0, d3d = 0, d3dsig = 0, costheta = 0, delta_r = 0, pt = 0;
};

/// The ntupler's catchInfsAndBound with offsets: clamp(value + offset, low, high).
inline float bound(double value, double low, double high, double offset = 0) {
  return static_cast<float>(std::clamp(value + offset, low, high));
}

class Generator {
 public:
  explicit Generator(const ExampleJetsOptions& options) : options_(options) {
    const auto& f = options.fractions;
    const double shares[6] = {f.b, f.bb, f.lepb, f.c, f.uds, f.g};
    double total = 0;
    for (double s : shares) {
      if (!(s >= 0) || !std::isfinite(s)) throw Error("example jets: class fractions must be finite and non-negative");
      total += s;
    }
    if (!(total > 0)) throw Error("example jets: the class fractions add up to zero");
    double running = 0;
    for (int k = 0; k < 6; ++k) cumulative_[k] = (running += shares[k]) / total;
    cumulative_[5] = 1.0;
    if (options.chunk_jets == 0) throw Error("example jets: chunk_jets must be at least 1");
    if (!(options.min_pt > 0) || !(options.max_pt > options.min_pt) || !std::isfinite(options.max_pt))
      throw Error("example jets: need 0 < min_pt < max_pt");
    if (options.compression_level < -1 || options.compression_level > 9)
      throw Error("example jets: compression_level must be 0 to 9 (or -1, the format's default)");
    if (!(options.mean_pileup_vertices >= 0) || !std::isfinite(options.mean_pileup_vertices))
      throw Error("example jets: mean_pileup_vertices must be finite and non-negative");
  }

  /// Append jets [first, first + count) to `chunk`.
  void generate(std::uint64_t first, std::size_t count, ExampleJetsChunk& chunk) {
    for (std::size_t i = 0; i < count; ++i) jet(first + i, chunk);
    chunk.jets += count;
  }

 private:
  // ---------------------------------------------------------------------------------------------
  void jet(std::uint64_t index, ExampleJetsChunk& out) {
    // Each jet has its own stream: results do not depend on chunking, and runs nest.
    std::uint64_t mix = options_.seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    mix = (mix ^ (mix >> 31)) * 0xbf58476d1ce4e5b9ULL;
    random_.reseed(mix ^ (index * 0xd6e8feb86659fd93ULL));
    particles_.clear();
    vertices_.clear();

    // --- flavour, kinematics, pile-up --------------------------------------------------------
    const double u = open_unit(random_);
    int jet_class = 0;
    while (jet_class < 5 && u > cumulative_[jet_class]) ++jet_class;
    std::array<std::int32_t, 12> flags{};
    int flag = 0;
    const double v = random_.uniform();
    switch (jet_class) {
      case class_b: flag = isB; break;
      case class_bb: flag = v < 0.5 ? isGBB : isBB; break;
      case class_lepb: flag = v < 0.6 ? isLeptonicB : isLeptonicB_C; break;
      case class_c: flag = v < 0.7 ? isC : (v < 0.9 ? isGCC : isCC); break;
      case class_uds: flag = v < 0.65 ? isUD : isS; break;
      default: flag = isG; break;
    }
    flags[flag] = 1;
    // Gluon-like showers (gluons, and gluons split into heavy quarks) radiate more and wider.
    const bool gluon_like = flag == isG || flag == isGBB || flag == isGCC;

    // Falling pT spectra, harder for heavy flavour (top decays, gluon splitting at high pT) than
    // for light quarks and gluons (QCD): a truncated power law dN/dpT ~ pT^-index.
    static constexpr double spectral_index[6] = {2.7, 2.3, 2.7, 2.9, 3.1, 3.3};
    const double pt = power_law(options_.min_pt, options_.max_pt, spectral_index[jet_class]);
    // Heavy flavour is more central (top decays), gluons and light quarks spread further.
    static constexpr double eta_width[6] = {1.05, 1.2, 1.05, 1.15, 1.3, 1.45};
    double eta = 0;
    do eta = eta_width[jet_class] * random_.normal(); while (std::abs(eta) >= 2.5);
    cosh_eta_ = std::cosh(eta);
    sin_polar_ = 1.0 / cosh_eta_;  // the jet's polar angle
    cos_polar_ = std::tanh(eta);
    jet_momentum_ = pt * cosh_eta_;
    jet_pt_ = pt;
    jet_width_ = 0.022 + 0.05 * std::pow(100.0 / pt, 0.4);  // jets narrow with pT
    abs_eta_ = std::abs(eta);
    const int pileup_vertices = std::max(1, poisson(random_, options_.mean_pileup_vertices));

    // --- heavy hadrons and their decays --------------------------------------------------------
    double flying_fraction = 0;  // of the jet momentum carried by hadrons that fly (B, D, V0)
    const bool leptonic = jet_class == class_lepb;
    switch (flag) {
      case isB: case isLeptonicB: case isLeptonicB_C: {
        // b fragmentation is hard: the B hadron takes ~3/4 of the jet momentum.
        const double z = std::clamp(0.72 + 0.14 * random_.normal(), 0.3, 0.97);
        flying_fraction = z;
        const int semileptonic = !leptonic ? 0 : (flag == isLeptonicB ? 1 : 2);
        heavy_hadron(true, z, hadron_direction(z, b_hadrons[0].mass), semileptonic);
        break;
      }
      case isBB: case isGBB: case isCC: case isGCC: {
        // Two heavy hadrons from g -> QQ (or two close b/c quarks), split by an angle ~ 2m/pT.
        const bool bottom = flag == isBB || flag == isGBB;
        const double total = bottom ? (flag == isBB ? 0.85 : 0.75) : (flag == isCC ? 0.75 : 0.65);
        const double share = random_.uniform(0.2f, 0.8f);
        const double z1 = total * share, z2 = total - z1;
        flying_fraction = total;
        const double quark_mass = bottom ? 4.8 : 1.5;
        const double opening = std::min(0.35 / cosh_eta_, 2 * quark_mass / (total * jet_momentum_) /
                                                              std::sqrt(share * (1 - share)) * random_.uniform(0.5f, 1.2f));
        double c, s;
        unit_circle(random_, c, s);
        heavy_hadron(bottom, z1, direction(opening * (1 - share), c, s), 0);
        heavy_hadron(bottom, z2, direction(opening * share, -c, -s), 0);
        break;
      }
      case isC: {
        // c fragmentation is softer than b: the D takes ~60 %.
        const double z = std::clamp(0.6 + 0.17 * random_.normal(), 0.2, 0.95);
        flying_fraction = z;
        heavy_hadron(false, z, hadron_direction(z, d_hadrons[0].mass), 0);
        break;
      }
      default: break;
    }
    const bool heavy_flavour = flying_fraction > 0;

    // --- V0s: K_S and Lambda decays in flight, in every flavour, most often in s jets --------
    static constexpr double v0_rate[11] = {0.06, 0.06, 0.06, 0.06, 0.06, 0.08, 0.08, 0.08, 0.08, 0.16, 0.10};
    if (random_.uniform() < v0_rate[flag]) {
      const double z = 0.04 + 0.22 * random_.uniform();
      flying_fraction += z;
      const bool is_lambda = random_.uniform() < 0.3;
      const Species species = is_lambda ? lambda : k_short;
      const Vec3 p = direction(fragment_delta_r(gluon_like, 1.0) / cosh_eta_) * (z * jet_momentum_);
      const Vec3 flight = p * (species.ctau * exponential(random_) / species.mass);
      // Decays beyond ~20 cm (transverse) leave no usable tracks: the V0 is lost to the jet.
      if (transverse(flight).norm() < 20.0) {
        vertices_.push_back({flight, -1, true});
        const int vertex = static_cast<int>(vertices_.size()) - 1;
        daughters_.clear();
        daughters_.push_back({is_lambda ? proton_mass : pion_mass, Kind::charged});
        daughters_.push_back({pion_mass, Kind::charged});
        decay(species.mass, p, vertex, Source::v0);
      }
    }

    // --- fragmentation: the rest of the jet momentum among prompt particles --------------------
    // Multiplicity grows with log(pT); gluons radiate ~1.6x more; heavy hadrons take momentum
    // and leave fewer fragmentation particles.
    const double log_pt = std::log(pt / 10.0);
    double mean_charged = 3.0 + 4.5 * log_pt;
    if (gluon_like) mean_charged *= 1.6;
    if (heavy_flavour) mean_charged *= 0.75;
    const int n_charged = 1 + poisson(random_, mean_charged);
    const int n_neutral = poisson(random_, 1.0 * mean_charged);
    const double rest = std::max(0.05, 1.0 - flying_fraction) * jet_momentum_;
    // Momentum sharing: weights e (1 + hardness e) with e exponential; the quadratic term gives
    // quark jets a harder leading particle, gluon jets share more evenly.
    const double hardness = gluon_like ? 0.25 : 0.9;
    double weight_sum = 0;
    weights_.clear();
    for (int i = 0; i < n_charged + n_neutral; ++i) {
      const double e = exponential(random_);
      const double w = e * (1.0 + hardness * e);
      weights_.push_back(w);
      weight_sum += w;
    }
    const double mean_weight = weight_sum / static_cast<double>(weights_.size());
    const std::size_t first_charged = particles_.size();
    for (int i = 0; i < n_charged + n_neutral; ++i) {
      // Softer particles lie further from the axis.
      const double spread = std::sqrt(std::sqrt(mean_weight / std::max(weights_[i], 1e-6)));
      const double dr = fragment_delta_r(gluon_like, std::min(spread, 4.0));
      Particle particle;
      particle.momentum = direction(dr / cosh_eta_) * (rest * weights_[i] / weight_sum);
      if (i < n_charged) {
        particle.kind = Kind::charged;
        particle.mass = pion_mass;
      } else {
        // pi0 photons dominate the neutrals; a third are neutral hadrons (K_L, n).
        particle.kind = random_.uniform() < 0.68 ? Kind::photon : Kind::neutral_hadron;
        particle.mass = particle.kind == Kind::photon ? 0.0 : neutral_kaon_mass;
      }
      particles_.push_back(particle);
    }

    // --- nuclear interactions: a fragmentation hadron hits the beam pipe or a pixel layer -------
    // and turns into 2-3 tracks from a vertex centimetres away, with a mass of a GeV or two.
    if (random_.uniform() < 0.05) {
      const auto hadron = static_cast<std::size_t>(first_charged + random_.below(static_cast<std::uint64_t>(n_charged)));
      const Vec3 momentum = particles_[hadron].momentum;
      static constexpr double layer_radius[4] = {2.2, 4.4, 7.3, 10.2};  // cm
      const double radius = layer_radius[random_.below(4)];
      const double transverse_length = transverse(momentum).norm() / momentum.norm();
      if (momentum.norm() > 2.0 && transverse_length > 0.05) {
        particles_[hadron].kind = Kind::neutrino;  // gone: its secondaries take its place
        vertices_.push_back({momentum * (radius / transverse_length / momentum.norm()), -1, true});
        const int vertex = static_cast<int>(vertices_.size()) - 1;
        daughters_.clear();
        const int secondaries = 2 + static_cast<int>(random_.below(2));
        for (int i = 0; i < secondaries; ++i) daughters_.push_back({pion_mass, Kind::charged});
        decay(random_.uniform(0.6f, 2.5f), momentum, vertex, Source::material);
      }
    }

    // The jet axis is where its particles point: align the frame with their momentum sum (the B
    // hadron of a b jet sets most of it, so its decay products sit close to the axis).
    align_jet_axis();

    // --- pile-up particles inside the cone ----------------------------------------------------
    const int n_pileup_charged = poisson(random_, 0.05 * pileup_vertices);
    const int n_pileup_neutral = poisson(random_, 0.07 * pileup_vertices);
    const Vec3 beam{0, -sin_polar_, cos_polar_};  // the beam axis in the jet frame
    for (int i = 0; i < n_pileup_charged + n_pileup_neutral; ++i) {
      Particle particle;
      const double dr = jet_radius * std::sqrt(random_.uniform());  // uniform over the cone
      const double particle_pt = 0.4 + 0.9 * exponential(random_);
      particle.momentum = direction(dr / cosh_eta_) * (particle_pt * cosh_eta_);
      particle.source = Source::pileup;
      if (i < n_pileup_charged) {
        particle.kind = Kind::charged;
        particle.mass = pion_mass;
        particle.origin = beam * (4.0 * random_.normal());  // another vertex along the beam
      } else {
        particle.kind = Kind::photon;
      }
      particles_.push_back(particle);
    }

    // --- reconstruction: tracks, neutral candidates, secondary vertices --------------------------
    reconstruct_tracks();
    reconstruct_vertices();
    for (auto& track : tracks_) {
      const Vec3 direction_of_track = particles_[track.particle].momentum;
      for (std::size_t s = 0; s < svs_.size(); ++s)
        track.drminsv = std::min(track.drminsv, angle(direction_of_track, svs_[s].momentum) * cosh_eta_);
    }
    write(out, flags, eta, pileup_vertices);
  }

  // ---- kinematics helpers ----------------------------------------------------------------------

  /// Rotate every particle and decay vertex so that the momentum sum of the visible particles in
  /// the cone points along z (Rodrigues' rotation about sum x z).
  void align_jet_axis() {
    Vec3 sum{};
    for (const auto& particle : particles_) {
      if (particle.kind == Kind::neutrino || particle.kind == Kind::hadron) continue;
      if (angle_to_axis(particle.momentum) * cosh_eta_ < jet_radius) sum += particle.momentum;
    }
    const double length = sum.norm();
    const double s = std::sqrt(sum.x * sum.x + sum.y * sum.y) / std::max(length, 1e-300);
    if (length <= 0 || s < 1e-12) return;
    const double c = sum.z / length;
    const Vec3 k{sum.y / (s * length), -sum.x / (s * length), 0};  // unit vector along sum x z
    const auto rotate = [&](Vec3& v) { v = v * c + k.cross(v) * s + k * (k.dot(v) * (1 - c)); };
    for (auto& particle : particles_) {
      rotate(particle.momentum);
      rotate(particle.origin);
    }
    for (auto& vertex : vertices_) rotate(vertex.position);
  }

  double power_law(double low, double high, double index) {
    const double a = 1.0 - index;
    const double lo = std::pow(low, a), hi = std::pow(high, a);
    return std::pow(lo + (hi - lo) * open_unit(random_), 1.0 / a);
  }

  /// A unit vector at polar angle theta (< pi/2) from the jet axis, azimuth (cos_phi, sin_phi).
  static Vec3 direction(double theta, double cos_phi, double sin_phi) {
    const double s = std::sin(theta);
    return {s * cos_phi, s * sin_phi, std::sqrt(1.0 - s * s)};
  }
  /// The same with a random azimuth.
  Vec3 direction(double theta) {
    double c, s;
    unit_circle(random_, c, s);
    return direction(theta, c, s);
  }

  /// Direction of a heavy hadron: it follows the jet axis within ~m/p.
  Vec3 hadron_direction(double z, double mass) {
    const double theta = std::min(0.3 / cosh_eta_, 0.5 * std::abs(random_.normal()) * mass / (z * jet_momentum_));
    return direction(theta);
  }

  /// Distance of a fragmentation particle from the axis (in dR), narrower at high pT, wider for gluons.
  double fragment_delta_r(bool gluon_like, double spread) {
    const double width = (gluon_like ? 1.45 : 1.0) * jet_width_ * spread;
    for (int attempt = 0; attempt < 4; ++attempt) {
      const double dr = width * exponential(random_);
      if (dr < jet_radius) return dr;
    }
    return jet_radius * random_.uniform();
  }

  /// A jet-frame vector in the lab's transverse plane: (along the jet's transverse direction, across).
  Vec3 transverse(const Vec3& v) const { return {v.y * cos_polar_ + v.z * sin_polar_, v.x, 0}; }

  /// The angle between two directions from |a x b| and a.b; jets are narrow, so most angles are
  /// small and a short arcsine series (error < 1e-4 relative below 0.5 rad) replaces atan2.
  static double angle_from(double cross, double dot) {
    const double length = std::sqrt(cross * cross + dot * dot);
    if (dot <= 0 || cross > 0.48 * length) return std::atan2(cross, dot);
    const double s = cross / length, s2 = s * s;
    return s * (1.0 + s2 * (1.0 / 6.0 + s2 * (3.0 / 40.0 + s2 * (5.0 / 112.0))));
  }
  static double angle(const Vec3& a, const Vec3& b) { return angle_from(a.cross(b).norm(), a.dot(b)); }
  static double angle_to_axis(const Vec3& a) { return angle_from(std::sqrt(a.x * a.x + a.y * a.y), a.z); }

  // ---- heavy-flavour decays --------------------------------------------------------------------

  template <std::size_t N>
  int pick(const double (&shares)[N]) {
    double u = random_.uniform();
    for (std::size_t k = 0; k + 1 < N; ++k) {
      if (u < shares[k]) return static_cast<int>(k);
      u -= shares[k];
    }
    return static_cast<int>(N - 1);
  }

  /// A B (bottom) or D hadron with momentum fraction z along `axis`, flying and decaying.
  /// semileptonic: 0 hadronic, 1 lepton from the B, 2 lepton from the B's D (cascade).
  void heavy_hadron(bool bottom, double z, const Vec3& axis, int semileptonic) {
    const Species species = bottom ? b_hadrons[pick(b_hadron_share)] : d_hadrons[pick(d_hadron_share)];
    fly_and_decay(bottom, species, axis * (z * jet_momentum_), Vec3{}, -1, semileptonic);
  }

  void fly_and_decay(bool bottom, const Species& species, const Vec3& momentum, const Vec3& origin, int parent,
                     int semileptonic) {
    // Flight length: beta*gamma*c*tau, exponential.
    const Vec3 position = origin + momentum * (species.ctau * exponential(random_) / species.mass);
    vertices_.push_back({position, parent, false});
    const int vertex = static_cast<int>(vertices_.size()) - 1;
    daughters_.clear();
    Species d_species{};
    if (bottom) {
      // B -> D + (1-3 charged) + (0-2 pi0) [+ l nu]; ~10 % without a charmed hadron in the final state.
      const bool with_d = semileptonic != 0 || random_.uniform() < 0.9;
      if (with_d) {
        d_species = d_hadrons[pick(d_hadron_share)];
        daughters_.push_back({d_species.mass, Kind::hadron, 1.0, Decays::d_hadron});
      }
      if (semileptonic == 1) {
        // The lepton takes a large share of the B's energy (up to (M_B^2 - M_D^2) / 2 M_B = 2.3 GeV in
        // the B frame), hence its large momentum transverse to the jet.
        daughters_.push_back({muon_mass, Kind::charged, 8.0});
        daughters_.push_back({0.0, Kind::neutrino, 4.0});
        if (random_.uniform() < 0.4) daughters_.push_back({pion_mass, Kind::charged});
      } else {
        const int charged = (with_d ? 1 : 2) + static_cast<int>(random_.below(3));
        for (int i = 0; i < charged; ++i) daughters_.push_back({pion_mass, Kind::charged});
      }
      const int neutrals = static_cast<int>(random_.below(3));
      for (int i = 0; i < neutrals; ++i) daughters_.push_back({pi0_mass, Kind::photon});
    } else {
      // D decays: K pi (pi pi), K pi pi, with pi0s; cascade D's of leptonic B's decay to K l nu.
      const double u = random_.uniform();
      if (semileptonic == 2 || (semileptonic == 0 && parent < 0 && u < 0.1)) {
        daughters_.push_back({kaon_mass, Kind::charged});
        daughters_.push_back({muon_mass, Kind::charged, semileptonic == 2 ? 1.8 : 1.3});
        daughters_.push_back({0.0, Kind::neutrino, 1.3});
      } else {
        const int charged = u < 0.55 ? 2 : (u < 0.85 ? 3 : (u < 0.93 ? 4 : 1));
        daughters_.push_back({kaon_mass, Kind::charged});
        for (int i = 1; i < charged; ++i) daughters_.push_back({pion_mass, Kind::charged});
        const int neutrals = static_cast<int>(random_.below(2)) + (charged == 1 ? 1 : 0);
        for (int i = 0; i < neutrals; ++i)
          daughters_.push_back(random_.uniform() < 0.75 ? Daughter{pi0_mass, Kind::photon}
                                                        : Daughter{neutral_kaon_mass, Kind::neutral_hadron});
      }
    }
    decay(species.mass, momentum, vertex, Source::decay);
    // decay() left the D hadron (if any) for us: it flies on from this vertex.
    if (pending_d_) {
      pending_d_ = false;
      const Vec3 d_momentum = pending_d_momentum_;
      fly_and_decay(false, d_species, d_momentum, position, vertex, semileptonic == 2 ? 2 : 0);
    }
  }

  /// Decay a hadron of `mass` and lab `momentum` at `vertex` into daughters_: approximate phase
  /// space (isotropic rest-frame momenta with zero sum, scaled to conserve energy), then a boost.
  void decay(double mass, const Vec3& momentum, int vertex, Source source) {
    const std::size_t n = daughters_.size();
    rest_.resize(n);
    Vec3 sum{};
    for (std::size_t i = 0; i < n; ++i) {
      const double cos_theta = 2.0 * random_.uniform() - 1.0;
      const double sin_theta = std::sqrt(std::max(0.0, 1.0 - cos_theta * cos_theta));
      double cos_phi, sin_phi;
      unit_circle(random_, cos_phi, sin_phi);
      const double size = daughters_[i].momentum_weight * (0.3 + exponential(random_));
      rest_[i] = Vec3{sin_theta * cos_phi, sin_theta * sin_phi, cos_theta} * size;
      sum += rest_[i];
    }
    const Vec3 mean = sum * (1.0 / static_cast<double>(n));
    double total_momentum = 0, total_mass = 0;
    for (std::size_t i = 0; i < n; ++i) {
      rest_[i] = rest_[i] - mean;
      total_momentum += rest_[i].norm();
      total_mass += daughters_[i].mass;
    }
    // Scale k so that sum sqrt(k^2 p^2 + m^2) = M (Newton from above: the sum is convex in k).
    double k = mass / std::max(total_momentum, 1e-9);
    if (total_mass < mass) {
      for (int iteration = 0; iteration < 8; ++iteration) {
        double f = -mass, df = 0;
        for (std::size_t i = 0; i < n; ++i) {
          const double p2 = rest_[i].dot(rest_[i]);
          const double e = std::sqrt(k * k * p2 + daughters_[i].mass * daughters_[i].mass);
          f += e;
          df += k * p2 / e;
        }
        if (df <= 0) break;
        k = std::max(0.0, k - f / df);
      }
    } else {
      k = 0;
    }
    // Boost along the hadron's flight direction.
    const double p = momentum.norm();
    const Vec3 axis = momentum * (1.0 / p);
    const double gamma = std::sqrt(p * p + mass * mass) / mass, gamma_beta = p / mass;
    for (std::size_t i = 0; i < n; ++i) {
      const Vec3 q = rest_[i] * k;
      const double e = std::sqrt(q.dot(q) + daughters_[i].mass * daughters_[i].mass);
      const double q_parallel = q.dot(axis);
      const Vec3 lab = q + axis * ((gamma - 1) * q_parallel + gamma_beta * e);
      if (daughters_[i].decays == Decays::d_hadron) {
        pending_d_ = true;
        pending_d_momentum_ = lab;
        continue;
      }
      Particle particle;
      particle.momentum = lab;
      particle.origin = vertices_[vertex].position;
      particle.mass = daughters_[i].mass;
      particle.kind = daughters_[i].kind;
      particle.source = source;
      particle.vertex = vertex;
      particles_.push_back(particle);
    }
  }

  // ---- reconstruction --------------------------------------------------------------------------

  void reconstruct_tracks() {
    tracks_.clear();
    neutrals_.clear();
    for (std::size_t i = 0; i < particles_.size(); ++i) {
      const Particle& particle = particles_[i];
      if (particle.kind == Kind::neutrino || particle.kind == Kind::hadron) continue;
      const double p = particle.momentum.norm();
      const double theta = angle_to_axis(particle.momentum);
      const double delta_r = theta * cosh_eta_;
      if (delta_r >= jet_radius) continue;  // outside the jet
      const double pt = transverse(particle.momentum).norm();
      if (particle.kind != Kind::charged) {
        if (pt < (particle.kind == Kind::photon ? 0.5 : 1.0)) continue;
        neutrals_.push_back({static_cast<int>(i), pt, delta_r});
        continue;
      }
      if (pt < 0.5) continue;  // below the tracking threshold of PF candidates
      // Tracking efficiency: ~93 % for tracks from near the beam, lower for tracks starting
      // centimetres out (fewer hits), lower in the dense core of very hard jets.
      const bool far_out = particle.source == Source::v0 || particle.source == Source::material;
      const double efficiency = (far_out ? 0.75 : 0.93) - (jet_pt_ > 300 ? 0.05 : 0.0);
      if (random_.uniform() >= efficiency) continue;
      Track track;
      track.particle = static_cast<int>(i);
      track.pt = pt;
      track.delta_r = delta_r;
      measure_impact_parameters(particle, p, pt, track);
      tracks_.push_back(track);
    }
  }

  /// Impact parameters: the geometry of the track line from its origin, smeared by a resolution
  /// that worsens at low pT (multiple scattering), with a small non-Gaussian tail.
  void measure_impact_parameters(const Particle& particle, double p, double pt, Track& track) {
    const Vec3 t = particle.momentum * (1.0 / p);
    const Vec3& origin = particle.origin;
    // 3D: point of closest approach to the primary vertex; lifetime sign from the jet axis.
    const Vec3 closest = origin - t * origin.dot(t);
    const double d3 = closest.norm();
    const double sign3 = closest.z >= 0 ? 1.0 : -1.0;
    // 2D: the same in the lab's transverse plane (the jet points along its first axis there).
    const Vec3 origin_t = transverse(origin), direction_t = transverse(t);
    const double length_t = std::max(direction_t.norm(), 1e-12);
    const Vec3 unit_t = direction_t * (1.0 / length_t);
    const Vec3 closest_t = origin_t - unit_t * origin_t.dot(unit_t);
    const double d2 = closest_t.norm();
    const double sign2 = closest_t.x >= 0 ? 1.0 : -1.0;

    const double sigma2 = std::sqrt(0.0015 * 0.0015 + (0.0095 / pt) * (0.0095 / pt)) * (1 + 0.12 * abs_eta_);  // cm
    const double sigma3 = sigma2 * (1.15 + 0.3 * abs_eta_);
    double tail = 1.0;
    track.chi2 = 0.5 * (exponential(random_) + exponential(random_));
    track.quality = 7;
    if (random_.uniform() < 0.03) {  // mis-measured (nuclear interaction, wrong hit): poor fit
      tail = random_.uniform(3.0f, 10.0f);
      track.chi2 *= random_.uniform(1.5f, 4.0f);
      track.quality = random_.uniform() < 0.6 ? 1 : 3;
    } else if (random_.uniform() < 0.08) {
      track.quality = random_.uniform() < 0.5 ? 1 : 3;
    }
    double n2, n_other;
    normal_pair(random_, n2, n_other);
    const double n3 = 0.7 * n2 + 0.714 * n_other;
    track.sip2d_val = sign2 * d2 + tail * sigma2 * n2;
    track.sip2d_sig = track.sip2d_val / sigma2;
    track.sip3d_val = sign3 * d3 + tail * sigma3 * n3;
    track.sip3d_sig = track.sip3d_val / sigma3;
    // Distance to the jet axis at closest approach (the b-tag convention reports it as negative).
    const Vec3 normal = t.cross(Vec3{0, 0, 1});
    const double across = normal.norm() > 1e-12 ? std::abs(origin.dot(normal)) / normal.norm() : 0.0;
    track.jet_dist = -std::abs(across + 0.5 * sigma3 * random_.normal());

    // Association to the primary vertex and PUPPI weight.
    const double u = random_.uniform();
    if (particle.source == Source::pileup) {
      track.vtx_ass = u < 0.85 ? 1 : (u < 0.95 ? 5 : 0);
    } else if (std::abs(track.sip3d_sig) < 3) {
      track.vtx_ass = u < 0.85 ? 7 : (u < 0.9 ? 6 : 5);
    } else {
      track.vtx_ass = u < 0.3 ? 7 : (u < 0.6 ? 4 : (u < 0.9 ? 5 : 0));
    }
    track.puppiw = track.vtx_ass == 1 ? static_cast<float>(0.05 * random_.uniform()) : 1.0f;
    // The CSV track selection.
    track.selected = pt > 1.0 && std::abs(track.sip2d_val) < 0.2 && track.jet_dist > -0.07 && track.chi2 < 5 &&
                     track.quality == 7;
  }

  /// Inclusive-vertex-finder-like reconstruction: a decay vertex with at least two displaced
  /// tracks becomes a secondary vertex if its flight is significant; B and D vertices with too
  /// few tracks each are merged; V0s are mostly vetoed; a few fake vertices from prompt tracks.
  void reconstruct_vertices() {
    svs_.clear();
    const int vertices = static_cast<int>(vertices_.size());
    seeds_.assign(static_cast<std::size_t>(vertices), 0);
    for (const auto& track : tracks_) {
      const int vertex = particles_[track.particle].vertex;
      if (vertex >= 0 && is_seed(track)) ++seeds_[vertex];
    }
    for (int vertex = 0; vertex < vertices; ++vertex) {
      if (vertices_[vertex].parent >= 0) continue;  // handled with its parent
      int child = -1;
      for (int other = vertex + 1; other < vertices; ++other)
        if (vertices_[other].parent == vertex) child = other;
      // The V0 veto and the material veto remove most K_S, Lambda and nuclear-interaction vertices.
      const double efficiency = vertices_[vertex].vetoed ? 0.3 : 0.8;
      if (child >= 0 && seeds_[vertex] >= 2 && seeds_[child] >= 2) {
        try_vertex(vertex, -1, vertices_[vertex].position, efficiency);
        try_vertex(child, -1, vertices_[child].position, efficiency);
      } else if (child >= 0 && seeds_[vertex] + seeds_[child] >= 2) {
        try_vertex(vertex, child, vertices_[seeds_[child] >= seeds_[vertex] ? child : vertex].position, efficiency);
      } else if (seeds_[vertex] >= 2) {
        try_vertex(vertex, -1, vertices_[vertex].position, efficiency);
      }
    }
    // Fake vertices: prompt tracks that happen to cross near each other.
    if (random_.uniform() < 0.10) {
      candidates_.clear();
      for (std::size_t i = 0; i < tracks_.size(); ++i)
        if (tracks_[i].sv < 0 && particles_[tracks_[i].particle].source == Source::prompt && tracks_[i].pt > 0.8)
          candidates_.push_back(static_cast<int>(i));
      if (candidates_.size() >= 2) {
        const std::size_t take = (candidates_.size() >= 3 && random_.uniform() < 0.3) ? 3 : 2;
        for (std::size_t i = 0; i < take; ++i)  // partial Fisher-Yates: `take` distinct tracks
          std::swap(candidates_[i], candidates_[i + random_.below(candidates_.size() - i)]);
        Vec3 momentum{};
        for (std::size_t i = 0; i < take; ++i) momentum += particles_[tracks_[candidates_[i]].particle].momentum;
        const Vec3 position = (momentum * (1.0 / momentum.norm()) +
                               Vec3{random_.normal(), random_.normal(), random_.normal()} * 0.15) *
                              (0.02 + 0.05 * exponential(random_));
        add_vertex(candidates_.data(), take, position, true);
      }
    }
    // The ntupler orders vertices by decreasing transverse flight significance.
    std::sort(svs_.begin(), svs_.end(), [](const SecondaryVertex& a, const SecondaryVertex& b) {
      if (a.dxysig != b.dxysig) return a.dxysig > b.dxysig;
      return a.d3dsig > b.d3dsig;
    });
  }

  bool is_seed(const Track& track) const {
    return track.pt > 0.8 && std::abs(track.sip3d_sig) > 1.2 && std::abs(track.sip3d_val) > 0.005;
  }

  void try_vertex(int vertex, int merged_child, const Vec3& position, double efficiency) {
    candidates_.clear();
    for (std::size_t i = 0; i < tracks_.size(); ++i) {
      const int from = particles_[tracks_[i].particle].vertex;
      if ((from == vertex || (merged_child >= 0 && from == merged_child)) && is_seed(tracks_[i]))
        candidates_.push_back(static_cast<int>(i));
    }
    if (candidates_.size() < 2 || random_.uniform() >= efficiency) return;
    add_vertex(candidates_.data(), candidates_.size(), position, false);
  }

  void add_vertex(const int* track_indices, std::size_t count, const Vec3& position, bool fake) {
    SecondaryVertex sv;
    for (std::size_t i = 0; i < count; ++i) {
      const Vec3& p = particles_[tracks_[track_indices[i]].particle].momentum;
      sv.momentum += p;
      sv.energy += std::sqrt(p.dot(p) + pion_mass * pion_mass);  // tracks are taken as pions
    }
    const double p = sv.momentum.norm();
    sv.mass = std::sqrt(std::max(0.0, sv.energy * sv.energy - p * p));
    sv.ntracks = static_cast<int>(count);
    sv.ndf = 2.0 * static_cast<double>(count) - 3.0;
    sv.chi2 = sv.ndf * 0.5 * (exponential(random_) + exponential(random_)) * (fake ? random_.uniform(1.0f, 3.0f) : 1.0);
    // Flight-distance resolution: better for harder, many-track vertices.
    const double sigma3 = (0.012 + 0.08 / std::sqrt(std::max(1.0, p))) * (1 + 0.25 * abs_eta_) *
                          (count > 2 ? 0.85 : 1.0);
    Vec3 noise;
    normal_pair(random_, noise.x, noise.y);
    noise.z = random_.normal();
    const Vec3 measured = position + noise * (sigma3 / 1.732);
    sv.d3d = measured.norm();
    sv.d3dsig = sv.d3d / sigma3;
    sv.dxy = transverse(measured).norm();
    sv.dxysig = sv.dxy / (0.8 * sigma3);
    // Inclusive vertex finding needs a significant flight; tracks far apart in angle (a heavy fake
    // combination) do not make a compatible vertex.
    if (sv.d3dsig < 3.0 || (fake && sv.mass > 4.0)) return;
    sv.costheta = measured.dot(sv.momentum) / std::max(1e-300, measured.norm() * p);
    sv.delta_r = angle_to_axis(sv.momentum) * cosh_eta_;
    sv.pt = transverse(sv.momentum).norm();
    const int index = static_cast<int>(svs_.size());
    for (std::size_t i = 0; i < count; ++i) tracks_[track_indices[i]].sv = index;
    svs_.push_back(sv);
  }

  // ---- output ----------------------------------------------------------------------------------

  void write(ExampleJetsChunk& out, const std::array<std::int32_t, 12>& flags, double eta, int pileup_vertices) {
    for (std::size_t k = 0; k < flags.size(); ++k) out.truth[k].push_back(flags[k]);

    // Charged candidates in the ntupler's order: decreasing signed 2D IP significance, then
    // nearest to an SV, then decreasing pT; the particle index breaks exact ties.
    order_.resize(tracks_.size());
    std::iota(order_.begin(), order_.end(), 0);
    std::sort(order_.begin(), order_.end(), [this](int a, int b) {
      const Track &ta = tracks_[a], &tb = tracks_[b];
      if (ta.sip2d_sig != tb.sip2d_sig) return ta.sip2d_sig > tb.sip2d_sig;
      if (ta.drminsv != tb.drminsv) return ta.drminsv < tb.drminsv;
      if (ta.pt != tb.pt) return ta.pt > tb.pt;
      return ta.particle < tb.particle;
    });
    const double jet_energy = jet_momentum_;  // massless-jet approximation is enough for ratios
    for (int index : order_) {
      const Track& track = tracks_[index];
      const Particle& particle = particles_[track.particle];
      const double p = particle.momentum.norm();
      const Vec3& q = particle.momentum;
      // Relative to the jet axis: pT (perpendicular), parallel momentum, and the pseudorapidity
      // -log tan(theta / 2) = log((p + p_par) / p_perp).
      const double p_perp = std::max(std::sqrt(q.x * q.x + q.y * q.y), 1e-9 * p);
      auto& c = out.charged;
      c[trackEtaRel].push_back(bound(std::log((p + q.z) / p_perp), -5, 15));
      c[trackPtRel].push_back(bound(p_perp, -1, 4));
      c[trackPPar].push_back(bound(q.z, -1e5, 1e5));
      c[trackDeltaR].push_back(bound(track.delta_r, -5, 5));
      c[trackPParRatio].push_back(bound(q.z / jet_momentum_, -10, 100));
      c[trackSip2dVal].push_back(bound(track.sip2d_val, -1, 70));
      c[trackSip2dSig].push_back(bound(track.sip2d_sig, -1, 4e4));
      c[trackSip3dVal].push_back(bound(track.sip3d_val, -1, 1e5));
      c[trackSip3dSig].push_back(bound(track.sip3d_sig, -1, 4e4));
      c[trackJetDistVal].push_back(bound(track.jet_dist, -20, 1));
      c[cpf_ptrel].push_back(bound(track.pt / jet_pt_, -1, 0, -1));
      c[cpf_drminsv].push_back(bound(track.drminsv, -0.4, 0, -0.4));
      c[cpf_VTX_ass].push_back(static_cast<float>(track.vtx_ass));
      c[cpf_puppiw].push_back(track.puppiw);
      c[cpf_chi2].push_back(bound(track.chi2, -1, 300));
      c[cpf_quality].push_back(static_cast<float>(track.quality));
    }
    out.charged_counts.push_back(static_cast<std::int64_t>(tracks_.size()));

    // Neutral candidates: the ntupler orders them nearest to an SV first, then by decreasing pT.
    for (auto& neutral : neutrals_) {
      neutral.drminsv = jet_radius;
      for (const auto& sv : svs_)
        neutral.drminsv = std::min(neutral.drminsv, angle(particles_[neutral.particle].momentum, sv.momentum) * cosh_eta_);
    }
    order_.resize(neutrals_.size());
    std::iota(order_.begin(), order_.end(), 0);
    std::sort(order_.begin(), order_.end(), [this](int a, int b) {
      const NeutralCandidate &na = neutrals_[a], &nb = neutrals_[b];
      if (na.drminsv != nb.drminsv) return na.drminsv < nb.drminsv;
      if (na.pt != nb.pt) return na.pt > nb.pt;
      return na.particle < nb.particle;
    });
    for (int index : order_) {
      const NeutralCandidate& neutral = neutrals_[index];
      const Particle& particle = particles_[neutral.particle];
      const bool photon = particle.kind == Kind::photon;
      auto& n = out.neutral;
      n[npf_ptrel].push_back(bound(neutral.pt / jet_pt_, -1, 0, -1));
      n[npf_deltaR].push_back(bound(neutral.delta_r, -0.6, 0, -0.6));
      n[npf_isGamma].push_back(photon ? 1.0f : 0.0f);
      // Photons deposit in ECAL, neutral hadrons mostly in HCAL.
      n[npf_HadFrac].push_back(photon ? (random_.uniform() < 0.8 ? 0.0f : 0.1f * random_.uniform())
                                      : random_.uniform(0.6f, 1.0f));
      n[npf_drminsv].push_back(bound(neutral.drminsv, -0.4, 0, -0.4));
      // PUPPI: pile-up neutrals get low weights, soft neutrals from the jet are uncertain.
      const double w = particle.source == Source::pileup
                           ? 0.3 * random_.uniform()
                           : 1.0 - std::exp(-neutral.pt / 1.5) * random_.uniform();
      n[npf_puppiw].push_back(static_cast<float>(w));
    }
    out.neutral_counts.push_back(static_cast<std::int64_t>(neutrals_.size()));

    for (const auto& sv : svs_) {
      auto& s = out.sv;
      s[sv_pt].push_back(static_cast<float>(sv.pt));
      s[sv_deltaR].push_back(bound(sv.delta_r, -2, 0, -0.5));
      s[sv_mass].push_back(static_cast<float>(sv.mass));
      s[sv_ntracks].push_back(static_cast<float>(sv.ntracks));
      s[sv_chi2].push_back(static_cast<float>(sv.chi2));
      s[sv_normchi2].push_back(bound(sv.chi2 / sv.ndf, -1000, 1000));
      s[sv_dxy].push_back(static_cast<float>(sv.dxy));
      s[sv_dxysig].push_back(bound(sv.dxysig, -1, 800));
      s[sv_d3d].push_back(static_cast<float>(sv.d3d));
      s[sv_d3dsig].push_back(bound(sv.d3dsig, -1, 800));
      s[sv_costhetasvpv].push_back(static_cast<float>(sv.costheta));
      s[sv_enratio].push_back(static_cast<float>(sv.energy / jet_energy));
    }
    out.sv_counts.push_back(static_cast<std::int64_t>(svs_.size()));

    write_globals(out, eta, pileup_vertices);
  }

  /// The CSV tagging variables, from the selected tracks and the vertices.
  void write_globals(ExampleJetsChunk& out, double eta, int pileup_vertices) {
    auto& g = out.global;
    g[jet_pt].push_back(static_cast<float>(jet_pt_));
    g[jet_eta].push_back(static_cast<float>(eta));
    g[nCpfcand].push_back(static_cast<float>(tracks_.size()));
    g[nNpfcand].push_back(static_cast<float>(neutrals_.size()));
    g[nsv].push_back(static_cast<float>(svs_.size()));
    g[npv].push_back(static_cast<float>(pileup_vertices));

    selected_.clear();
    Vec3 sum{};
    double sum_pt = 0;
    for (std::size_t i = 0; i < tracks_.size(); ++i) {
      if (!tracks_[i].selected) continue;
      selected_.push_back(static_cast<int>(i));
      sum += particles_[tracks_[i].particle].momentum;
      sum_pt += tracks_[i].pt;
    }
    g[trackSumJetEtRatio].push_back(static_cast<float>(sum_pt / jet_pt_));
    g[trackSumJetDeltaR].push_back(selected_.empty() ? 0.0f
                                                     : static_cast<float>(angle_to_axis(sum) * cosh_eta_));

    // Vertex category: 0 a reconstructed SV, 1 a pseudo-vertex (two or more significantly
    // displaced selected tracks), 2 none.
    int pseudo_tracks = 0;
    for (int i : selected_)
      if (tracks_[i].sip2d_sig > 2) ++pseudo_tracks;
    const int category = !svs_.empty() ? 0 : (pseudo_tracks >= 2 ? 1 : 2);
    g[vertexCategory].push_back(static_cast<float>(category));

    // AboveCharm: the first track (by decreasing significance) that lifts the invariant mass of
    // the tracks so far above the charm mass; -999 if none does.
    for (int dimension = 2; dimension <= 3; ++dimension) {
      std::sort(selected_.begin(), selected_.end(), [this, dimension](int a, int b) {
        const double sa = dimension == 2 ? tracks_[a].sip2d_sig : tracks_[a].sip3d_sig;
        const double sb = dimension == 2 ? tracks_[b].sip2d_sig : tracks_[b].sip3d_sig;
        if (sa != sb) return sa > sb;
        return a < b;
      });
      double value = -999, significance = -999, energy = 0;
      Vec3 momentum{};
      for (int i : selected_) {
        const Vec3& p = particles_[tracks_[i].particle].momentum;
        momentum += p;
        energy += std::sqrt(p.dot(p) + pion_mass * pion_mass);
        if (energy * energy - momentum.dot(momentum) > charm_mass_threshold * charm_mass_threshold) {
          value = dimension == 2 ? tracks_[i].sip2d_val : tracks_[i].sip3d_val;
          significance = dimension == 2 ? tracks_[i].sip2d_sig : tracks_[i].sip3d_sig;
          break;
        }
      }
      g[dimension == 2 ? trackSip2dValAboveCharm : trackSip3dValAboveCharm].push_back(static_cast<float>(value));
      g[dimension == 2 ? trackSip2dSigAboveCharm : trackSip3dSigAboveCharm].push_back(static_cast<float>(significance));
    }
    g[jetNSelectedTracks].push_back(static_cast<float>(selected_.size()));
    int eta_rel_tracks = 0;
    if (category == 0) {
      eta_rel_tracks = svs_.front().ntracks;
    } else if (category == 1) {
      eta_rel_tracks = pseudo_tracks;
    }
    g[jetNTracksEtaRel].push_back(static_cast<float>(eta_rel_tracks));
  }

  struct NeutralCandidate {
    int particle = 0;
    double pt = 0, delta_r = 0, drminsv = jet_radius;
  };

  ExampleJetsOptions options_;
  double cumulative_[6] = {};
  Random random_{0};
  // Per-jet state, kept between jets so that their storage is reused.
  double cosh_eta_ = 1, sin_polar_ = 1, cos_polar_ = 0, jet_momentum_ = 0, jet_pt_ = 0, jet_width_ = 0, abs_eta_ = 0;
  std::vector<Particle> particles_;
  std::vector<DecayVertex> vertices_;
  std::vector<Daughter> daughters_;
  std::vector<Vec3> rest_;
  std::vector<double> weights_;
  std::vector<Track> tracks_;
  std::vector<NeutralCandidate> neutrals_;
  std::vector<SecondaryVertex> svs_;
  std::vector<int> seeds_, candidates_, order_, selected_;
  bool pending_d_ = false;
  Vec3 pending_d_momentum_;
};

}  // namespace example_jets_detail

/// Generates example jets chunk by chunk (in memory); generate_example_jets writes them.
class ExampleJetsGenerator {
 public:
  explicit ExampleJetsGenerator(const ExampleJetsOptions& options) : generator_(options) {}
  /// Clear `chunk` and fill it with jets [first, first + count).
  void generate(std::uint64_t first, std::size_t count, ExampleJetsChunk& chunk) {
    chunk.clear();
    generator_.generate(first, count, chunk);
  }

 private:
  example_jets_detail::Generator generator_;
};

namespace example_jets_detail {
/// Offsets (counts.size() + 1 of them, from 0) of a chunk's per-jet counts.
inline std::vector<std::int64_t> offsets_of(const std::vector<std::int64_t>& counts) {
  std::vector<std::int64_t> offsets(counts.size() + 1, 0);
  for (std::size_t i = 0; i < counts.size(); ++i) offsets[i + 1] = offsets[i] + counts[i];
  return offsets;
}

/// The jets as the DeepNTuples ntupler's ROOT file: deepntuplizer/tree, counted candidate arrays.
inline void write_example_jets_root(const std::filesystem::path& path, const ExampleJetsOptions& options,
                                    ExampleJetsGenerator& generator) {
  root::WriteOptions write_options;
  const int level = options.compression_level < 0 ? 1 : options.compression_level;
  write_options.compression = level == 0 ? root::CompressionSettings::none() : root::CompressionSettings::zlib(level);
  root::FileWriter file(path, write_options);
  root::TreeWriter& tree = file.make_tree(example_jets_table, "example jets (deepjet)");
  for (const char* name : example_jets_truth_branches) tree.add_branch<std::int32_t>(name);
  for (const char* name : example_jets_global_branches) tree.add_branch<float>(name);
  for (const char* name : example_jets_charged_branches) tree.add_counted_branch<float>(name, example_jets_charged_offsets);
  for (const char* name : example_jets_neutral_branches) tree.add_counted_branch<float>(name, example_jets_neutral_offsets);
  for (const char* name : example_jets_sv_branches) tree.add_counted_branch<float>(name, example_jets_sv_offsets);

  ExampleJetsChunk chunk;
  for (std::uint64_t first = 0; first < options.jets; first += options.chunk_jets) {
    const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(options.chunk_jets, options.jets - first));
    generator.generate(first, count, chunk);
    for (std::size_t k = 0; k < chunk.truth.size(); ++k)
      tree.write<std::int32_t>(example_jets_truth_branches[k], chunk.truth[k]);
    for (std::size_t k = 0; k < chunk.global.size(); ++k) tree.write<float>(example_jets_global_branches[k], chunk.global[k]);
    const auto charged = offsets_of(chunk.charged_counts), neutral = offsets_of(chunk.neutral_counts),
               sv = offsets_of(chunk.sv_counts);
    for (std::size_t k = 0; k < chunk.charged.size(); ++k)
      tree.write_jagged<float>(example_jets_charged_branches[k], chunk.charged[k], charged);
    for (std::size_t k = 0; k < chunk.neutral.size(); ++k)
      tree.write_jagged<float>(example_jets_neutral_branches[k], chunk.neutral[k], neutral);
    for (std::size_t k = 0; k < chunk.sv.size(); ++k) tree.write_jagged<float>(example_jets_sv_branches[k], chunk.sv[k], sv);
  }
  file.close();
}

inline void write_example_jets_table(const std::filesystem::path& path, const ExampleJetsOptions& options,
                                     ExampleJetsGenerator& generator) {
  // HDF5 chunks of at least 1024 rows whatever the generation chunk: tiny chunks are slow to write.
  const std::size_t storage_chunk = std::clamp<std::size_t>(options.chunk_jets, 1024, 65536);
  SourceTableWriter writer(path, example_jets_table, storage_chunk, std::max(options.compression_level, 0));
  for (const char* name : example_jets_truth_branches) writer.add_flat<std::int32_t>(name);
  for (const char* name : example_jets_global_branches) writer.add_flat<float>(name);
  for (const char* name : example_jets_charged_branches) writer.add_jagged<float>(name, example_jets_charged_offsets);
  for (const char* name : example_jets_neutral_branches) writer.add_jagged<float>(name, example_jets_neutral_offsets);
  for (const char* name : example_jets_sv_branches) writer.add_jagged<float>(name, example_jets_sv_offsets);

  ExampleJetsChunk chunk;
  for (std::uint64_t first = 0; first < options.jets; first += options.chunk_jets) {
    const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(options.chunk_jets, options.jets - first));
    generator.generate(first, count, chunk);
    for (std::size_t k = 0; k < chunk.truth.size(); ++k)
      writer.append_flat<std::int32_t>(example_jets_truth_branches[k], chunk.truth[k]);
    for (std::size_t k = 0; k < chunk.global.size(); ++k)
      writer.append_flat<float>(example_jets_global_branches[k], chunk.global[k]);
    for (std::size_t k = 0; k < chunk.charged.size(); ++k)
      writer.append_jagged<float>(example_jets_charged_branches[k], chunk.charged[k]);
    for (std::size_t k = 0; k < chunk.neutral.size(); ++k)
      writer.append_jagged<float>(example_jets_neutral_branches[k], chunk.neutral[k]);
    for (std::size_t k = 0; k < chunk.sv.size(); ++k)
      writer.append_jagged<float>(example_jets_sv_branches[k], chunk.sv[k]);
    writer.append_counts(example_jets_charged_offsets, chunk.charged_counts);
    writer.append_counts(example_jets_neutral_offsets, chunk.neutral_counts);
    writer.append_counts(example_jets_sv_offsets, chunk.sv_counts);
  }
  writer.finish(options.jets);
}
}  // namespace example_jets_detail

/// Write `options.jets` example jets to `path` (see the contract at the top of this file).
inline void generate_example_jets(const std::filesystem::path& path, const ExampleJetsOptions& options = {}) {
  ExampleJetsGenerator generator(options);  // validates the options before any file is made
  if (path.extension() == ".root")
    example_jets_detail::write_example_jets_root(path, options, generator);
  else
    example_jets_detail::write_example_jets_table(path, options, generator);
}

}  // namespace deepjet::data
