// deepjet/data/jet_source.hpp: the jets of an event-level tree (NanoAOD, PFNano) as a jet-level Source.
//
// NanoAOD stores one entry per EVENT: the jets are a collection (nJet, Jet_pt[nJet], ...), the PF
// candidates another (nPFCands, PFCands_pt[nPFCands], ...), and PFNano links them through index
// maps, one map entry per (jet, candidate) pair: JetPFCands_jetIdx[k] is the jet (its index among
// the event's jets) and JetPFCands_pFCandsIdx[k] the candidate (its index among the event's
// candidates); map-level branches (JetPFCands_btagEtaRel[k], ...) hold per-pair values. JetSource
// turns this into what the data path reads, one entry per JET:
//
//   JetSource jets(open_source(path, "Events"), "Jet");           // entries(): all jets, event by event
//   jets.link({.name = "cpf", .collection = "PFCands", .map = "JetPFCands", .entry_index = "pFCandsIdx",
//              .select_branch = "PFCands_charge", .select = [](float q) { return q != 0; }});
//   jets.add_derived("isB", "Jet_hadronFlavour", [](float f) { return f == 5 ? 1.0f : 0.0f; });
//
// Branches of the jet-level source, by name:
//   "Jet_pt"                   a branch of the jet collection: one value per jet (read_flat)
//   "PV_npvs", "event"         a per-event branch (one value per event): repeated for each jet of
//                              the event; a branch of any other collection is an error
//   "cpf.PFCands_pt"           a linked list: per jet, the values of ITS candidates, in map order
//   "cpf.JetPFCands_btagEtaRel"  (read_jagged); a branch of the collection or of the map
//   "PFCands_pt"               the same, unqualified, when exactly one linked list uses PFCands (or
//                              the map JetPFCands); otherwise an error naming the lists
//   "cpf.size"                 the number of entries of the list for each jet (read_flat)
//   "cpf.deltaR"               a derived list branch: per entry, a function of the list's branches
//                              and per-jet branches (add_derived_to_list)
//   "isB"                      a derived branch: a function of per-jet branches (truth flags, ...)
//   "Jet.index", "Jet.entry"   the jet's index among its event's jets and its event's entry number
//                              in the tree (read_flat; exact below 2^24): to match results back
// A list holds a jet's map entries in map order (the order of the map's entries in the event);
// a block's SortKey sorts them. A list may be restricted by a predicate on one of its branches
// (charged vs neutral candidates). A negative candidate index (NanoAOD's -1: "not in the
// collection", as JetSVs_sVIdx for vertices outside the SV table) is, per list, an error, kept
// (collection branches then read NaN, map branches their value) or dropped.
//
// Memory: a read of jets [first, last) reads only the events holding them. The constructor reads
// one jet branch once (chunk by chunk) to index the jets of every event: 8 bytes per event.
// A list's entry plan (which map entries belong to which jet) is kept for the last range read, so
// the many branches of one block share it. Like the sources it reads, a JetSource is read by one
// thread at a time (parallel conversion opens one source per file).
// Errors are deepjet::FileError naming the file, the branch and the event entry: a map pointing
// outside the candidate collection or to a jet outside nJet, a non-integral index, branches of one
// collection with different lengths, a missing branch.
// Indices arrive as float (the Source interface): exact below 2^24 entries per event.
#pragma once

#include "deepjet/core/error.hpp"
#include "deepjet/data/source.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace deepjet::data {

/// What a list does with a map entry whose candidate index is negative (no candidate).
enum class Unmatched {
  error,  ///< a FileError naming the event (candidate maps always point to a candidate)
  keep,   ///< the entry stays: collection branches read NaN for it, map branches their value
  drop,   ///< the entry is left out of the list
};

/// A per-jet list taken from an event-level collection through an index map.
struct LinkedCollection {
  std::string name{};         ///< the list's name: its branches are "<name>.<branch>"
  std::string collection{};   ///< the candidate collection's prefix, e.g. "PFCands"
  std::string map{};          ///< the map's prefix, e.g. "JetPFCands"
  std::string jet_index = "jetIdx";  ///< map branch <map>_<jet_index>: the jet of each map entry
  std::string entry_index{};  ///< map branch <map>_<entry_index>: the candidate, e.g. "pFCandsIdx"
  Unmatched unmatched = Unmatched::error;
  /// A branch of the collection whose per-event lengths are the collection's sizes (default
  /// "<collection>_pt"): indices are checked against them.
  std::string size_branch{};
  /// Keep only the entries for which select(value of select_branch) is true (a branch of the
  /// collection or of the map, e.g. "PFCands_charge"); no select_branch keeps every entry.
  std::string select_branch{};
  std::function<bool(float)> select{};
};

class JetSource final : public Source {
 public:
  /// The jets of `events` (an event-level source): the collection with prefix `jets`. Each event's
  /// jet count is the length of `jet_size_branch` (default "<jets>_pt") in that event.
  explicit JetSource(std::unique_ptr<Source> events, std::string jets = "Jet", std::string jet_size_branch = {})
      : events_(std::move(events)), jets_(std::move(jets)),
        jet_size_branch_(jet_size_branch.empty() ? jets_ + "_pt" : std::move(jet_size_branch)) {
    if (!events_) throw Error("JetSource: no event-level source");
    require(jet_size_branch_, "the jet collection's size branch");
    // The jet index, chunk by chunk so a large file is never read whole.
    constexpr std::uint64_t chunk_events = 65536;
    const std::uint64_t event_count = events_->entries();
    jet_offsets_.reserve(static_cast<std::size_t>(event_count) + 1);
    jet_offsets_.push_back(0);
    for (std::uint64_t first = 0; first < event_count; first += chunk_events) {
      const std::uint64_t last = std::min(event_count, first + chunk_events);
      const auto column = events_->read_jagged(jet_size_branch_, first, last);
      for (std::size_t e = 0; e + 1 < column.offsets.size(); ++e)
        jet_offsets_.push_back(jet_offsets_.back() +
                               static_cast<std::uint64_t>(column.offsets[e + 1] - column.offsets[e]));
    }
  }

  /// Add a list of entries per jet. The map and size branches must exist.
  JetSource& link(LinkedCollection list) {
    if (list.name.empty() || list.name.find('.') != std::string::npos)
      throw FileError(path(), "linked list name '" + list.name + "' must be non-empty and without '.'");
    if (find_list(list.name)) throw FileError(path(), "linked list '" + list.name + "' is defined twice");
    if (list.size_branch.empty()) list.size_branch = list.collection + "_pt";
    require(list.map + "_" + list.jet_index, "the jet index of map '" + list.map + "'");
    require(list.map + "_" + list.entry_index, "the " + list.collection + " index of map '" + list.map + "'");
    require(list.size_branch, "the size branch of collection '" + list.collection + "'");
    if (!list.select_branch.empty()) {
      if (!list.select) throw FileError(path(), "linked list '" + list.name + "': select_branch without a select predicate");
      if (!starts_with(list.select_branch, list.collection + "_") && !starts_with(list.select_branch, list.map + "_"))
        throw FileError(path(), "linked list '" + list.name + "': select_branch '" + list.select_branch +
                                    "' is neither a branch of " + list.collection + " nor of " + list.map);
      require(list.select_branch, "the select branch of linked list '" + list.name + "'");
    }
    lists_.push_back(std::move(list));
    plans_.emplace_back();
    return *this;
  }

  /// Add a per-jet branch computed from per-jet branches (jet, per-event, list sizes, derived
  /// branches added before it): compute gets one value of each input, in the order given.
  JetSource& add_derived(std::string name, std::vector<std::string> inputs,
                         std::function<float(std::span<const float>)> compute) {
    if (find_derived(name, derived_.size())) throw FileError(path(), "derived branch '" + name + "' is defined twice");
    if (inputs.empty()) throw FileError(path(), "derived branch '" + name + "' has no inputs");
    derived_.push_back({std::move(name), std::move(inputs), std::move(compute)});
    return *this;
  }

  /// A per-jet branch computed from one input: add_derived("isB", "Jet_hadronFlavour", [](float f) {...}).
  JetSource& add_derived(std::string name, const std::string& input, std::function<float(float)> compute) {
    return add_derived(std::move(name), std::vector<std::string>{input},
                       [compute = std::move(compute)](std::span<const float> v) { return compute(v[0]); });
  }

  /// Add a branch "<list>.<name>" to a list: for each entry, compute of the inputs' values. An
  /// input is a branch of the list (its collection or map: "PFCands_eta") or a per-jet branch
  /// ("Jet_eta", a per-event or derived branch), whose value is then the entry's jet's.
  JetSource& add_derived_to_list(const std::string& list, std::string name, std::vector<std::string> inputs,
                                 std::function<float(std::span<const float>)> compute) {
    std::size_t index = 0;
    while (index < lists_.size() && lists_[index].name != list) ++index;
    if (index == lists_.size()) throw FileError(path(), "derived branch '" + name + "': no linked list '" + list + "'");
    if (name == "size" || starts_with(name, lists_[index].collection + "_") || starts_with(name, lists_[index].map + "_"))
      throw FileError(path(), "derived branch '" + list + "." + name + "' would hide a branch of the list");
    for (const auto& d : list_derived_)
      if (d.list == index && d.name == name) throw FileError(path(), "derived branch '" + list + "." + name + "' is defined twice");
    if (inputs.empty()) throw FileError(path(), "derived branch '" + list + "." + name + "' has no inputs");
    for (auto& input : inputs) {
      if (starts_with(input, list + ".")) input.erase(0, list.size() + 1);  // "cpf.PFCands_eta" is "PFCands_eta" here
      if (starts_with(input, lists_[index].collection + "_") || starts_with(input, lists_[index].map + "_"))
        require(input, "an input of derived branch '" + list + "." + name + "'");
    }
    list_derived_.push_back({index, std::move(name), std::move(inputs), std::move(compute)});
    return *this;
  }

  const std::string& path() const override { return events_->path(); }
  /// All jets of all events.
  std::uint64_t entries() const override { return jet_offsets_.back(); }
  std::uint64_t events() const { return jet_offsets_.size() - 1; }
  /// The jets of event e are entries [first_jet(e), first_jet(e + 1)).
  std::uint64_t first_jet(std::uint64_t event) const { return jet_offsets_.at(static_cast<std::size_t>(event)); }
  /// The event holding jet `jet`.
  std::uint64_t event_of(std::uint64_t jet) const {
    if (jet >= entries()) throw FileError(path(), "jet " + std::to_string(jet) + " asked for, there are " + std::to_string(entries()));
    return static_cast<std::uint64_t>(std::upper_bound(jet_offsets_.begin(), jet_offsets_.end(), jet) - jet_offsets_.begin() - 1);
  }
  const Source& event_source() const { return *events_; }
  const std::vector<LinkedCollection>& lists() const { return lists_; }

  bool has_branch(const std::string& name) const override {
    std::string ambiguity;
    const auto where = resolve(name, derived_.size(), &ambiguity);
    if (!where) return false;
    switch (where->kind) {
      case Kind::derived:
      case Kind::list_size:
      case Kind::list_derived:
      case Kind::jet_index:
      case Kind::event_entry: return true;
      default: return events_->has_branch(where->branch);
    }
  }

  std::vector<float> read_flat(const std::string& name, std::uint64_t first, std::uint64_t last) const override {
    return read_flat_before(name, first, last, derived_.size());
  }

  JaggedColumn read_jagged(const std::string& name, std::uint64_t first, std::uint64_t last) const override {
    check_range(name, first, last);
    const Where where = resolve_or_fail(name, derived_.size());
    if (where.kind == Kind::list_derived) return read_list_derived(list_derived_[where.derived], first, last);
    if (where.kind != Kind::list_collection && where.kind != Kind::list_map) {
      // A per-jet value is a list of one, as TableSource reads flat branches.
      JaggedColumn column;
      column.values = read_flat(name, first, last);
      std::vector<std::int64_t> offsets(column.values.size() + 1);
      std::iota(offsets.begin(), offsets.end(), std::int64_t{0});
      column.offsets = std::move(offsets);
      return column;
    }
    const ListPlan& plan = plan_for(where.list, first, last);
    JaggedColumn out;
    out.values = gather(plan, where.branch, where.kind == Kind::list_map);
    out.offsets = plan.offsets;
    return out;
  }

 private:
  enum class Kind { derived, jet, event, list_size, list_collection, list_map, list_derived, jet_index, event_entry };
  struct Where {
    Kind kind;
    std::string branch;    // the event-level branch (or the derived branch's name)
    std::size_t list = 0;  // for list kinds
    std::size_t derived = 0;
  };
  struct Derived {
    std::string name;
    std::vector<std::string> inputs;
    std::function<float(std::span<const float>)> compute;
  };
  struct ListDerived {
    std::size_t list;
    std::string name;
    std::vector<std::string> inputs;
    std::function<float(std::span<const float>)> compute;
  };
  /// Which map entries make up the lists of jets [first, last), read from events [first_event, last_event).
  struct ListPlan {
    bool valid = false;
    std::uint64_t first = 0, last = 0, first_event = 0, last_event = 0;
    std::vector<std::int64_t> offsets;                // per jet, into the positions below
    std::vector<std::size_t> map_positions;           // into a map branch's values of the events
    std::vector<std::int64_t> collection_positions;   // into a collection branch's values; -1: none
    std::vector<std::int64_t> map_offsets;            // per-event lengths of the map, as offsets
    std::vector<std::int64_t> collection_offsets;     // per-event sizes of the collection, as offsets
  };

  static bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

  void require(const std::string& branch, const std::string& what) const {
    if (!events_->has_branch(branch)) throw FileError(path(), "has no branch '" + branch + "' (" + what + ")");
  }

  const LinkedCollection* find_list(const std::string& name) const {
    for (const auto& list : lists_)
      if (list.name == name) return &list;
    return nullptr;
  }
  std::optional<std::size_t> find_derived(const std::string& name, std::size_t before) const {
    for (std::size_t i = 0; i < before; ++i)
      if (derived_[i].name == name) return i;
    return std::nullopt;
  }

  // Where a name's values come from; only derived branches [0, derived_before) are visible, so a
  // derived branch cannot depend on itself or on later ones.
  std::optional<Where> resolve(const std::string& name, std::size_t derived_before, std::string* ambiguity) const {
    if (const auto d = find_derived(name, derived_before)) return Where{Kind::derived, name, 0, *d};
    if (const auto dot = name.find('.'); dot != std::string::npos) {
      const std::string list_name = name.substr(0, dot), branch = name.substr(dot + 1);
      for (std::size_t i = 0; i < lists_.size(); ++i) {
        if (lists_[i].name != list_name) continue;
        if (branch == "size") return Where{Kind::list_size, branch, i};
        for (std::size_t d = 0; d < list_derived_.size(); ++d)
          if (list_derived_[d].list == i && list_derived_[d].name == branch) return Where{Kind::list_derived, branch, i, d};
        if (starts_with(branch, lists_[i].collection + "_")) return Where{Kind::list_collection, branch, i};
        if (starts_with(branch, lists_[i].map + "_")) return Where{Kind::list_map, branch, i};
        *ambiguity = "'" + branch + "' is neither a branch of " + lists_[i].collection + " nor of " + lists_[i].map;
        return std::nullopt;
      }
      // Not a list: ROOT's "branch.leaf" names are per-event branches.
    }
    if (name == jets_ + ".index") return Where{Kind::jet_index, name};
    if (name == jets_ + ".entry") return Where{Kind::event_entry, name};
    if (starts_with(name, jets_ + "_")) return Where{Kind::jet, name};
    std::vector<Where> matches;
    for (std::size_t i = 0; i < lists_.size(); ++i) {
      if (starts_with(name, lists_[i].collection + "_")) matches.push_back({Kind::list_collection, name, i});
      else if (starts_with(name, lists_[i].map + "_")) matches.push_back({Kind::list_map, name, i});
    }
    if (matches.size() == 1) return matches.front();
    if (matches.size() > 1) {
      *ambiguity = "'" + name + "' belongs to several linked lists; name one:";
      for (const auto& m : matches) *ambiguity += " " + lists_[m.list].name + "." + name;
      return std::nullopt;
    }
    return Where{Kind::event, name};
  }

  Where resolve_or_fail(const std::string& name, std::size_t derived_before) const {
    std::string ambiguity;
    const auto where = resolve(name, derived_before, &ambiguity);
    if (!where) throw FileError(path(), "branch '" + name + "': " + ambiguity);
    if ((where->kind == Kind::jet || where->kind == Kind::event || where->kind == Kind::list_collection ||
         where->kind == Kind::list_map) &&
        !events_->has_branch(where->branch))
      throw FileError(path(), "has no branch '" + where->branch + "'");
    return *where;
  }

  void check_range(const std::string& name, std::uint64_t first, std::uint64_t last) const {
    if (first > last || last > entries())
      throw FileError(path(), "branch '" + name + "': jets " + std::to_string(first) + " to " + std::to_string(last) +
                                  " asked for, the source has " + std::to_string(entries()));
  }

  // The events holding jets [first, last): [first_event, last_event).
  std::pair<std::uint64_t, std::uint64_t> events_of(std::uint64_t first, std::uint64_t last) const {
    if (first == last) return {0, 0};
    const auto begin = jet_offsets_.begin();
    const auto first_event = static_cast<std::uint64_t>(std::upper_bound(begin, jet_offsets_.end(), first) - begin - 1);
    const auto last_event = static_cast<std::uint64_t>(std::lower_bound(begin, jet_offsets_.end(), last) - begin);
    return {first_event, last_event};
  }
  std::uint64_t jets_in(std::uint64_t event) const {
    return jet_offsets_[static_cast<std::size_t>(event) + 1] - jet_offsets_[static_cast<std::size_t>(event)];
  }

  std::vector<float> read_flat_before(const std::string& name, std::uint64_t first, std::uint64_t last,
                                      std::size_t derived_before) const {
    check_range(name, first, last);
    const Where where = resolve_or_fail(name, derived_before);
    const std::size_t jets = static_cast<std::size_t>(last - first);
    std::vector<float> out(jets);
    if (jets == 0) return out;
    const auto [first_event, last_event] = events_of(first, last);
    switch (where.kind) {
      case Kind::derived: {
        const Derived& d = derived_[where.derived];
        std::vector<std::vector<float>> inputs;
        for (const auto& input : d.inputs) inputs.push_back(read_flat_before(input, first, last, where.derived));
        std::vector<float> row(inputs.size());
        for (std::size_t j = 0; j < jets; ++j) {
          for (std::size_t i = 0; i < inputs.size(); ++i) row[i] = inputs[i][j];
          out[j] = d.compute(row);
        }
        return out;
      }
      case Kind::jet: {
        const auto column = events_->read_jagged(where.branch, first_event, last_event);
        for (std::uint64_t e = first_event; e < last_event; ++e) {
          const std::size_t i = static_cast<std::size_t>(e - first_event);
          const auto length = static_cast<std::uint64_t>(column.offsets[i + 1] - column.offsets[i]);
          if (length != jets_in(e))
            throw FileError(path(), "branch '" + where.branch + "' has " + std::to_string(length) + " values in event " +
                                        std::to_string(e) + ", which has " + std::to_string(jets_in(e)) +
                                        " jets (lengths of '" + jet_size_branch_ + "')");
        }
        const auto skip = static_cast<std::ptrdiff_t>(first - jet_offsets_[static_cast<std::size_t>(first_event)]);
        std::copy_n(column.values.begin() + skip, jets, out.begin());
        return out;
      }
      case Kind::event: {
        const auto column = events_->read_jagged(where.branch, first_event, last_event);
        for (std::uint64_t e = first_event; e < last_event; ++e) {
          const std::size_t i = static_cast<std::size_t>(e - first_event);
          if (column.offsets[i + 1] - column.offsets[i] != 1)
            throw FileError(path(), "branch '" + where.branch + "' has " +
                                        std::to_string(column.offsets[i + 1] - column.offsets[i]) + " values in event " +
                                        std::to_string(e) + ": a jet-level source reads per-event branches (one value "
                                        "per event), branches of " + jets_ + " and linked lists (link its collection)");
          const std::uint64_t begin = std::max(first, jet_offsets_[static_cast<std::size_t>(e)]);
          const std::uint64_t end = std::min(last, jet_offsets_[static_cast<std::size_t>(e) + 1]);
          std::fill(out.begin() + static_cast<std::ptrdiff_t>(begin - first),
                    out.begin() + static_cast<std::ptrdiff_t>(end - first), column.values[static_cast<std::size_t>(column.offsets[i])]);
        }
        return out;
      }
      case Kind::jet_index:
      case Kind::event_entry:
        for (std::uint64_t e = first_event; e < last_event; ++e) {
          const std::uint64_t event_first = jet_offsets_[static_cast<std::size_t>(e)];
          const std::uint64_t begin = std::max(first, event_first), end = std::min(last, jet_offsets_[static_cast<std::size_t>(e) + 1]);
          for (std::uint64_t j = begin; j < end; ++j)
            out[static_cast<std::size_t>(j - first)] = static_cast<float>(where.kind == Kind::jet_index ? j - event_first : e);
        }
        return out;
      case Kind::list_size: {
        const ListPlan& plan = plan_for(where.list, first, last);
        for (std::size_t j = 0; j < jets; ++j) out[j] = static_cast<float>(plan.offsets[j + 1] - plan.offsets[j]);
        return out;
      }
      case Kind::list_collection:
      case Kind::list_map:
      case Kind::list_derived:
        throw FileError(path(), "branch '" + name + "' has a list of values per jet (linked list '" +
                                    lists_[where.list].name + "'); read it as a particle list");
    }
    return out;
  }

  // The values of a collection or map branch for the plan's entries, in list order.
  std::vector<float> gather(const ListPlan& plan, const std::string& branch, bool from_map) const {
    const auto column = read_event_column(branch, plan, from_map);
    std::vector<float> values(plan.map_positions.size());
    for (std::size_t k = 0; k < values.size(); ++k) {
      if (from_map) {
        values[k] = column.values[plan.map_positions[k]];
      } else {
        const std::int64_t position = plan.collection_positions[k];
        values[k] = position < 0 ? std::numeric_limits<float>::quiet_NaN() : column.values[static_cast<std::size_t>(position)];
      }
    }
    return values;
  }

  JaggedColumn read_list_derived(const ListDerived& d, std::uint64_t first, std::uint64_t last) const {
    const LinkedCollection& list = lists_[d.list];
    // Per-jet inputs first: reading them may compute another list's plan.
    std::vector<std::vector<float>> per_jet(d.inputs.size());
    for (std::size_t i = 0; i < d.inputs.size(); ++i)
      if (!starts_with(d.inputs[i], list.collection + "_") && !starts_with(d.inputs[i], list.map + "_"))
        per_jet[i] = read_flat(d.inputs[i], first, last);
    const ListPlan& plan = plan_for(d.list, first, last);
    std::vector<std::vector<float>> per_entry(d.inputs.size());
    for (std::size_t i = 0; i < d.inputs.size(); ++i)
      if (per_jet[i].empty() && last > first)
        per_entry[i] = gather(plan, d.inputs[i], starts_with(d.inputs[i], list.map + "_"));
    JaggedColumn out;
    out.offsets = plan.offsets;
    out.values.resize(plan.map_positions.size());
    std::vector<float> row(d.inputs.size());
    for (std::size_t j = 0; j + 1 < plan.offsets.size(); ++j)
      for (auto k = static_cast<std::size_t>(plan.offsets[j]); k < static_cast<std::size_t>(plan.offsets[j + 1]); ++k) {
        for (std::size_t i = 0; i < row.size(); ++i) row[i] = per_entry[i].empty() ? per_jet[i][j] : per_entry[i][k];
        out.values[k] = d.compute(row);
      }
    return out;
  }

  // An index value as an integer; a non-integral or non-finite one is an error.
  std::int64_t index_value(float value, const std::string& branch, std::uint64_t event) const {
    if (!std::isfinite(value) || value != std::floor(value))
      throw FileError(path(), "branch '" + branch + "' has a non-integral index (" + std::to_string(value) +
                                  ") in event " + std::to_string(event));
    return static_cast<std::int64_t>(value);
  }

  // A map or collection branch over the plan's events, checked to have the map's or the
  // collection's lengths in every event.
  JaggedColumn read_event_column(const std::string& branch, const ListPlan& plan, bool from_map) const {
    auto column = events_->read_jagged(branch, plan.first_event, plan.last_event);
    const auto& expected = from_map ? plan.map_offsets : plan.collection_offsets;
    for (std::size_t i = 0; i + 1 < expected.size(); ++i) {
      const std::int64_t length = column.offsets[i + 1] - column.offsets[i], wanted = expected[i + 1] - expected[i];
      if (length != wanted)
        throw FileError(path(), "branch '" + branch + "' has " + std::to_string(length) + " values in event " +
                                    std::to_string(plan.first_event + i) + ", its " + (from_map ? "map" : "collection") +
                                    " has " + std::to_string(wanted) + " entries");
    }
    return column;
  }

  // The plan of list `index` for jets [first, last): kept for the next read of the same range.
  const ListPlan& plan_for(std::size_t index, std::uint64_t first, std::uint64_t last) const {
    ListPlan& plan = plans_[index];
    if (plan.valid && plan.first == first && plan.last == last) return plan;
    const LinkedCollection& list = lists_[index];
    plan = ListPlan{};
    plan.first = first;
    plan.last = last;
    std::tie(plan.first_event, plan.last_event) = events_of(first, last);
    const std::string jet_branch = list.map + "_" + list.jet_index, entry_branch = list.map + "_" + list.entry_index;
    const auto jet_index = events_->read_jagged(jet_branch, plan.first_event, plan.last_event);
    const auto entry_index = events_->read_jagged(entry_branch, plan.first_event, plan.last_event);
    plan.map_offsets = jet_index.offsets;
    plan.collection_offsets = events_->read_jagged(list.size_branch, plan.first_event, plan.last_event).offsets;
    if (entry_index.offsets != jet_index.offsets)
      for (std::size_t i = 0; i + 1 < jet_index.offsets.size(); ++i)
        if (entry_index.offsets[i + 1] - entry_index.offsets[i] != jet_index.offsets[i + 1] - jet_index.offsets[i])
          throw FileError(path(), "map '" + list.map + "': '" + jet_branch + "' and '" + entry_branch +
                                      "' have different lengths in event " + std::to_string(plan.first_event + i));
    std::optional<JaggedColumn> selector;
    const bool select_on_map = !list.select_branch.empty() && starts_with(list.select_branch, list.map + "_");
    if (!list.select_branch.empty()) selector = read_event_column(list.select_branch, plan, select_on_map);

    // Pass 1: validate every map entry of the events and note those of the jets asked for.
    struct Entry {
      std::size_t jet, map_position;
      std::int64_t collection_position;
    };
    std::vector<Entry> entries;
    const std::size_t jets = static_cast<std::size_t>(last - first);
    std::vector<std::int64_t> counts(jets, 0);
    for (std::uint64_t e = plan.first_event; e < plan.last_event; ++e) {
      const std::size_t i = static_cast<std::size_t>(e - plan.first_event);
      const std::int64_t collection_size = plan.collection_offsets[i + 1] - plan.collection_offsets[i];
      for (auto k = static_cast<std::size_t>(jet_index.offsets[i]); k < static_cast<std::size_t>(jet_index.offsets[i + 1]); ++k) {
        const std::int64_t jet = index_value(jet_index.values[k], jet_branch, e);
        if (jet < 0 || static_cast<std::uint64_t>(jet) >= jets_in(e))
          throw FileError(path(), "branch '" + jet_branch + "' points to jet " + std::to_string(jet) + " in event " +
                                      std::to_string(e) + ", which has " + std::to_string(jets_in(e)) + " jets (map entry " +
                                      std::to_string(k - static_cast<std::size_t>(jet_index.offsets[i])) + ")");
        const std::int64_t entry = index_value(entry_index.values[k], entry_branch, e);
        if (entry >= collection_size || (entry < 0 && list.unmatched == Unmatched::error))
          throw FileError(path(), "branch '" + entry_branch + "' points to " + list.collection + " entry " +
                                      std::to_string(entry) + " in event " + std::to_string(e) + ", which has " +
                                      std::to_string(collection_size) + " (map entry " +
                                      std::to_string(k - static_cast<std::size_t>(jet_index.offsets[i])) + ")");
        if (entry < 0 && list.unmatched == Unmatched::drop) continue;
        const std::uint64_t global_jet = jet_offsets_[static_cast<std::size_t>(e)] + static_cast<std::uint64_t>(jet);
        if (global_jet < first || global_jet >= last) continue;
        const std::int64_t collection_position = entry < 0 ? -1 : plan.collection_offsets[i] + entry;
        if (selector) {
          const float value = select_on_map ? selector->values[k]
                              : collection_position < 0 ? std::numeric_limits<float>::quiet_NaN()
                                                        : selector->values[static_cast<std::size_t>(collection_position)];
          if (!list.select(value)) continue;
        }
        entries.push_back({static_cast<std::size_t>(global_jet - first), k, collection_position});
        ++counts[entries.back().jet];
      }
    }
    // Pass 2: group by jet, keeping map order within a jet (a counting sort is stable).
    plan.offsets.assign(jets + 1, 0);
    for (std::size_t j = 0; j < jets; ++j) plan.offsets[j + 1] = plan.offsets[j] + counts[j];
    plan.map_positions.resize(entries.size());
    plan.collection_positions.resize(entries.size());
    std::vector<std::int64_t> next(plan.offsets.begin(), plan.offsets.end() - 1);
    for (const Entry& entry : entries) {
      const auto slot = static_cast<std::size_t>(next[entry.jet]++);
      plan.map_positions[slot] = entry.map_position;
      plan.collection_positions[slot] = entry.collection_position;
    }
    plan.valid = true;
    return plan;
  }

  std::unique_ptr<Source> events_;
  std::string jets_;
  std::string jet_size_branch_;
  std::vector<std::uint64_t> jet_offsets_;  // jets of event e: [jet_offsets_[e], jet_offsets_[e + 1])
  std::vector<LinkedCollection> lists_;
  std::vector<Derived> derived_;
  std::vector<ListDerived> list_derived_;
  mutable std::vector<ListPlan> plans_;
};

}  // namespace deepjet::data
