// deepjet/io/root/streamer_info_writer.hpp: the class descriptions (TStreamerInfo) a file must
// carry for the objects the writer puts in it.
//
// Contract: writer_class_descriptions() holds, for every class the writer streams (TObject, TNamed,
// the TAtt* bases, ROOT::TIOFeatures, TTree v20, TBranch v13, TBranchElement v10, TLeaf v2 and its
// TLeafO/B/S/I/L/F/D/C/D32/F16/Element subclasses) the members in ROOT's order with ROOT's type codes,
// class versions and checksums, as ROOT 6.20 to 6.30 record them; vector_class_description()
// describes std::vector<T> of a basic type (checksum: ROOT's hash of the class name).
// serialize_streamer_infos() writes the TList record that the file header's fSeekInfo points to.
// Readers (ROOT, JSROOT, this project's reader) interpret the TTree records with these.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deepjet/io/root/byte_writer.hpp"

namespace deepjet::root {

struct ElementDescription {
  enum class Kind { base, basic, basic_pointer, object, object_any, object_pointer, string, stl };
  Kind kind = Kind::basic;
  std::string name;
  std::int32_t type = 0;       // ROOT's EReadWrite code
  std::int32_t size = 0;
  std::string type_name;
  std::uint32_t base_checksum = 0;  // base classes: the base's checksum (kept in fMaxIndex[1])
  std::int32_t version = 0;         // base classes: fBaseVersion; counted pointers: fCountVersion
  std::string count_name;           // counted pointers: the member holding the count
  std::string count_class;
  std::int32_t stl_type = 0;        // STL: 1 = vector
  std::int32_t element_type = 0;    // STL: type code of the elements
};

struct ClassDescription {
  std::string name;
  std::int32_t version = 0;
  std::uint32_t checksum = 0;
  std::vector<ElementDescription> elements;
};

namespace detail {

using K = ElementDescription::Kind;

inline ElementDescription base(std::string name, std::int32_t type, std::int32_t version, std::uint32_t checksum) {
  ElementDescription e;
  e.kind = K::base;
  e.name = std::move(name);
  e.type = type;
  e.type_name = "BASE";
  e.version = version;
  e.base_checksum = checksum;
  return e;
}
inline ElementDescription member(K kind, std::string name, std::int32_t type, std::int32_t size, std::string type_name) {
  ElementDescription e;
  e.kind = kind;
  e.name = std::move(name);
  e.type = type;
  e.size = size;
  e.type_name = std::move(type_name);
  return e;
}
inline ElementDescription counted(std::string name, std::int32_t type, std::int32_t size, std::string type_name,
                                  std::int32_t count_version, std::string count_name, std::string count_class) {
  ElementDescription e = member(K::basic_pointer, std::move(name), type, size, std::move(type_name));
  e.version = count_version;
  e.count_name = std::move(count_name);
  e.count_class = std::move(count_class);
  return e;
}

// Checksums of the classes as ROOT records them (they let ROOT see that the file's layout is its own).
inline constexpr std::uint32_t checksum_TObject = 2417737773u;
inline constexpr std::uint32_t checksum_TNamed = 3753331260u;
inline constexpr std::uint32_t checksum_TAttLine = 2483504457u;
inline constexpr std::uint32_t checksum_TAttFill = 4292422290u;
inline constexpr std::uint32_t checksum_TAttMarker = 689802220u;
inline constexpr std::uint32_t checksum_TIOFeatures = 446770960u;
inline constexpr std::uint32_t checksum_TTree = 1919213695u;
inline constexpr std::uint32_t checksum_TBranch = 278366892u;
inline constexpr std::uint32_t checksum_TBranchElement = 3880738403u;
inline constexpr std::uint32_t checksum_TLeaf = 1830715730u;

inline ClassDescription leaf_subclass(std::string name, std::uint32_t checksum, std::int32_t type, std::int32_t size,
                                      std::string type_name) {
  return {std::move(name), 1, checksum,
          {base("TLeaf", 0, 2, checksum_TLeaf), member(K::basic, "fMinimum", type, size, type_name),
           member(K::basic, "fMaximum", type, size, type_name)}};
}

}  // namespace detail

/// ROOT's checksum of a class without members of its own (STL collections): a hash of the name.
inline std::uint32_t class_name_checksum(std::string_view name) {
  std::uint32_t id = 0;
  for (char c : name) id = id * 3 + static_cast<std::uint8_t>(c);
  return id;
}

inline const std::vector<ClassDescription>& writer_class_descriptions() {
  using namespace detail;
  static const std::vector<ClassDescription> classes = [] {
    const auto long64 = [](const char* n) { return member(K::basic, n, 16, 8, "Long64_t"); };
    const auto integer = [](const char* n) { return member(K::basic, n, 3, 4, "int"); };
    const auto counter = [](const char* n) { return member(K::basic, n, 6, 4, "int"); };
    const auto array = [](const char* n) { return member(K::object, n, 61, 64, "TObjArray"); };
    const auto pointer = [](const char* n, const char* type) { return member(K::object_pointer, n, 64, 8, type); };
    std::vector<ClassDescription> all;
    all.push_back({"TObject", 1, checksum_TObject,
                   {member(K::basic, "fUniqueID", 13, 4, "unsigned int"), member(K::basic, "fBits", 15, 4, "unsigned int")}});
    all.push_back({"TNamed", 1, checksum_TNamed,
                   {base("TObject", 66, 1, checksum_TObject), member(K::string, "fName", 65, 24, "TString"),
                    member(K::string, "fTitle", 65, 24, "TString")}});
    all.push_back({"TAttLine", 2, checksum_TAttLine,
                   {member(K::basic, "fLineColor", 2, 2, "short"), member(K::basic, "fLineStyle", 2, 2, "short"),
                    member(K::basic, "fLineWidth", 2, 2, "short")}});
    all.push_back({"TAttFill", 2, checksum_TAttFill,
                   {member(K::basic, "fFillColor", 2, 2, "short"), member(K::basic, "fFillStyle", 2, 2, "short")}});
    all.push_back({"TAttMarker", 2, checksum_TAttMarker,
                   {member(K::basic, "fMarkerColor", 2, 2, "short"), member(K::basic, "fMarkerStyle", 2, 2, "short"),
                    member(K::basic, "fMarkerSize", 5, 4, "float")}});
    all.push_back({"ROOT::TIOFeatures", 1, checksum_TIOFeatures, {member(K::basic, "fIOBits", 11, 1, "unsigned char")}});
    all.push_back({"TTree", 20, checksum_TTree,
                   {base("TNamed", 67, 1, checksum_TNamed), base("TAttLine", 0, 2, checksum_TAttLine),
                    base("TAttFill", 0, 2, checksum_TAttFill), base("TAttMarker", 0, 2, checksum_TAttMarker),
                    long64("fEntries"), long64("fTotBytes"), long64("fZipBytes"), long64("fSavedBytes"),
                    long64("fFlushedBytes"), member(K::basic, "fWeight", 8, 8, "double"), integer("fTimerInterval"),
                    integer("fScanField"), integer("fUpdate"), integer("fDefaultEntryOffsetLen"),
                    counter("fNClusterRange"), long64("fMaxEntries"), long64("fMaxEntryLoop"),
                    long64("fMaxVirtualSize"), long64("fAutoSave"), long64("fAutoFlush"), long64("fEstimate"),
                    counted("fClusterRangeEnd", 56, 8, "Long64_t*", 20, "fNClusterRange", "TTree"),
                    counted("fClusterSize", 56, 8, "Long64_t*", 20, "fNClusterRange", "TTree"),
                    member(K::object_any, "fIOFeatures", 62, 1, "ROOT::TIOFeatures"), array("fBranches"),
                    array("fLeaves"), pointer("fAliases", "TList*"),
                    member(K::object_any, "fIndexValues", 62, 24, "TArrayD"),
                    member(K::object_any, "fIndex", 62, 24, "TArrayI"), pointer("fTreeIndex", "TVirtualIndex*"),
                    pointer("fFriends", "TList*"), pointer("fUserInfo", "TList*"),
                    pointer("fBranchRef", "TBranchRef*")}});
    all.push_back({"TBranch", 13, checksum_TBranch,
                   {base("TNamed", 67, 1, checksum_TNamed), base("TAttFill", 0, 2, checksum_TAttFill),
                    integer("fCompress"), integer("fBasketSize"), integer("fEntryOffsetLen"), integer("fWriteBasket"),
                    long64("fEntryNumber"), member(K::object_any, "fIOFeatures", 62, 1, "ROOT::TIOFeatures"),
                    integer("fOffset"), counter("fMaxBaskets"), integer("fSplitLevel"), long64("fEntries"),
                    long64("fFirstEntry"), long64("fTotBytes"), long64("fZipBytes"), array("fBranches"),
                    array("fLeaves"), array("fBaskets"),
                    counted("fBasketBytes", 43, 4, "int*", 13, "fMaxBaskets", "TBranch"),
                    counted("fBasketEntry", 56, 8, "Long64_t*", 13, "fMaxBaskets", "TBranch"),
                    counted("fBasketSeek", 56, 8, "Long64_t*", 13, "fMaxBaskets", "TBranch"),
                    member(K::string, "fFileName", 65, 24, "TString")}});
    all.push_back({"TBranchElement", 10, checksum_TBranchElement,
                   {base("TBranch", 0, 13, checksum_TBranch), member(K::string, "fClassName", 65, 24, "TString"),
                    member(K::string, "fParentName", 65, 24, "TString"),
                    member(K::string, "fClonesName", 65, 24, "TString"),
                    member(K::basic, "fCheckSum", 13, 4, "unsigned int"),
                    member(K::basic, "fClassVersion", 2, 2, "short"), integer("fID"), integer("fType"),
                    integer("fStreamerType"), integer("fMaximum"), pointer("fBranchCount", "TBranchElement*"),
                    pointer("fBranchCount2", "TBranchElement*")}});
    all.push_back({"TLeaf", 2, checksum_TLeaf,
                   {base("TNamed", 67, 1, checksum_TNamed), integer("fLen"), integer("fLenType"), integer("fOffset"),
                    member(K::basic, "fIsRange", 18, 1, "bool"), member(K::basic, "fIsUnsigned", 18, 1, "bool"),
                    pointer("fLeafCount", "TLeaf*")}});
    all.push_back(leaf_subclass("TLeafO", 44976339u, 18, 1, "bool"));
    all.push_back(leaf_subclass("TLeafB", 253643614u, 1, 1, "char"));
    all.push_back(leaf_subclass("TLeafS", 353169103u, 2, 2, "short"));
    all.push_back(leaf_subclass("TLeafI", 2120920601u, 3, 4, "int"));
    all.push_back(leaf_subclass("TLeafL", 3727820898u, 16, 8, "Long64_t"));
    all.push_back(leaf_subclass("TLeafF", 987602290u, 5, 4, "float"));
    all.push_back(leaf_subclass("TLeafD", 294553462u, 8, 8, "double"));
    all.push_back(leaf_subclass("TLeafC", 4226003699u, 3, 4, "int"));
    // Checksums computed with ROOT's TStreamerInfo::GetCheckSum rule (which reproduces the ones
    // above): the class, base and member names, the base checksum and the member type names.
    all.push_back(leaf_subclass("TLeafD32", 3789317121u, 9, 8, "Double32_t"));
    all.push_back(leaf_subclass("TLeafF16", 3946182787u, 19, 4, "Float16_t"));
    all.push_back({"TLeafElement", 1, 2689566867u,
                   {base("TLeaf", 0, 2, checksum_TLeaf), integer("fID"), integer("fType")}});
    return all;
  }();
  return classes;
}

inline const ClassDescription& writer_class_description(std::string_view name) {
  for (const ClassDescription& description : writer_class_descriptions()) {
    if (description.name == name) return description;
  }
  throw Error("ROOT writer: no class description for " + std::string(name));
}

/// std::vector of a basic type with ROOT type code `element_type` ("vector<float>", 5).
inline ClassDescription vector_class_description(const std::string& class_name, std::int32_t element_type) {
  ElementDescription stl = detail::member(ElementDescription::Kind::stl, "This", 500, 0, class_name);
  stl.stl_type = 1;  // ROOT::kSTLvector
  stl.element_type = element_type;
  return {class_name, 6, class_name_checksum(class_name), {stl}};
}

namespace detail {

inline const char* element_class_name(ElementDescription::Kind kind) {
  switch (kind) {
    case K::base: return "TStreamerBase";
    case K::basic: return "TStreamerBasicType";
    case K::basic_pointer: return "TStreamerBasicPointer";
    case K::object: return "TStreamerObject";
    case K::object_any: return "TStreamerObjectAny";
    case K::object_pointer: return "TStreamerObjectPointer";
    case K::string: return "TStreamerString";
    case K::stl: return "TStreamerSTL";
  }
  return "TStreamerElement";
}

inline void write_element(ByteWriter& out, const ElementDescription& e) {
  const std::size_t object = out.begin_object(element_class_name(e.kind));
  // Class versions of the TStreamerElement family in ROOT 6: base 3, STL 3, the others 2.
  const std::int16_t version = (e.kind == K::base || e.kind == K::stl) ? 3 : 2;
  const std::size_t outer = out.begin_versioned(version);
  const std::size_t element = out.begin_versioned(4);  // TStreamerElement
  // A counted pointer's title names its count in brackets, as ROOT's member comments do.
  out.tnamed(e.name, e.kind == K::basic_pointer ? "[" + e.count_name + "]" : std::string());
  out.put<std::int32_t>(e.type);
  out.put<std::int32_t>(e.size);
  out.put<std::int32_t>(0);  // fArrayLength
  out.put<std::int32_t>(0);  // fArrayDim
  for (int i = 0; i < 5; ++i) out.put<std::uint32_t>(i == 1 ? e.base_checksum : 0);  // fMaxIndex
  out.tstring(e.type_name);
  out.end_versioned(element);
  if (e.kind == K::base) out.put<std::int32_t>(e.version);
  if (e.kind == K::basic_pointer) {
    out.put<std::int32_t>(e.version);
    out.tstring(e.count_name);
    out.tstring(e.count_class);
  }
  if (e.kind == K::stl) {
    out.put<std::int32_t>(e.stl_type);
    out.put<std::int32_t>(e.element_type);
  }
  out.end_versioned(outer);
  out.end_object(object);
}

}  // namespace detail

/// The TList of TStreamerInfo records for `classes`, for a key whose fKeylen is `origin`.
inline std::vector<std::uint8_t> serialize_streamer_infos(const std::vector<ClassDescription>& classes,
                                                          std::int64_t origin) {
  ByteWriter out(origin);
  const std::size_t list = out.begin_versioned(5);  // TList
  out.tobject(0x02000000);
  out.tstring("");
  out.put<std::int32_t>(static_cast<std::int32_t>(classes.size()));
  for (const ClassDescription& description : classes) {
    const std::size_t object = out.begin_object("TStreamerInfo");
    const std::size_t info = out.begin_versioned(9);
    out.tnamed(description.name, "");
    out.put<std::uint32_t>(description.checksum);
    out.put<std::int32_t>(description.version);
    const std::size_t array_object = out.begin_object("TObjArray");
    const std::size_t array = out.begin_versioned(3);
    out.tobject(0x02000000);
    out.tstring("");
    out.put<std::int32_t>(static_cast<std::int32_t>(description.elements.size()));
    out.put<std::int32_t>(0);  // lower bound
    for (const ElementDescription& element : description.elements) detail::write_element(out, element);
    out.end_versioned(array);
    out.end_object(array_object);
    out.end_versioned(info);
    out.end_object(object);
    out.tstring("");  // the list entry's option
  }
  out.end_versioned(list);
  return out.take();
}

}  // namespace deepjet::root
