// deepjet/io/root/streamer_info.hpp: the class descriptions (TStreamerInfo) stored in a file.
//
// Contract: parse_streamer_infos() reads the TList at the file header's fSeekInfo and returns, per
// class, its members' names, ROOT type codes and type names. The reader only needs them to learn
// the type of members of split objects (e.g. "vector<float>" for Event::StlVecF32). Objects in the
// list that are not TStreamerInfo are skipped by their byte count. Malformed data throws
// deepjet::FileError.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "deepjet/io/root/byte_cursor.hpp"
#include "deepjet/io/root/object_buffer.hpp"

namespace deepjet::root {

struct StreamerElement {
  std::string name;
  std::string element_class;  // TStreamerBasicType, TStreamerSTL, ...
  std::int32_t type = 0;      // ROOT's EReadWrite code (3 = int, 5 = float, 300/500 = STL ...)
  std::int32_t array_length = 0;
  std::string type_name;      // "float", "vector<float>", "Int_t*" ...
  // Double32_t / Float16_t members: the member comment ("[0,1,20]") and, in the files of ROOT
  // 3-era TStreamerElement version 3, the range stored explicitly.
  std::string title;
  bool has_range = false;          // TStreamerElement::kHasRange (bit 6 of fBits)
  bool explicit_range = false;     // version 3: xmin, xmax, factor below come from the file
  double xmin = 0, xmax = 0, factor = 0;
};

struct StreamerClass {
  std::string name;
  std::int32_t version = 0;
  std::vector<StreamerElement> elements;
};

using StreamerInfos = std::map<std::string, StreamerClass, std::less<>>;

inline StreamerElement read_streamer_element(ByteCursor& cursor, const std::string& element_class) {
  StreamerElement element;
  element.element_class = element_class;
  // Every TStreamerXxx starts with its own header, then its TStreamerElement base.
  read_version(cursor, "TStreamerElement subclass");
  const VersionHeader base = read_version(cursor, "TStreamerElement");
  const Named named = read_tnamed(cursor);
  element.name = named.name;
  element.title = named.title;
  element.has_range = (named.bits & (1u << 6)) != 0;
  element.type = cursor.i32("TStreamerElement::fType");
  cursor.i32("TStreamerElement::fSize");
  element.array_length = cursor.i32("TStreamerElement::fArrayLength");
  cursor.i32("TStreamerElement::fArrayDim");
  if (base.version == 1) {
    const std::int32_t count = cursor.i32("TStreamerElement::fMaxIndex count");
    if (count < 0 || count > 5) cursor.fail("corrupted TStreamerElement::fMaxIndex");
    cursor.skip(4 * static_cast<std::size_t>(count), "TStreamerElement::fMaxIndex");
  } else {
    cursor.skip(4 * 5, "TStreamerElement::fMaxIndex");
  }
  element.type_name = cursor.tstring("TStreamerElement::fTypeName");
  if (base.version == 3) {
    element.explicit_range = true;
    element.xmin = cursor.f64("TStreamerElement::fXmin");
    element.xmax = cursor.f64("TStreamerElement::fXmax");
    element.factor = cursor.f64("TStreamerElement::fFactor");
  }
  if (base.has_byte_count) cursor.seek(base.end, "TStreamerElement");
  return element;
}

inline StreamerInfos parse_streamer_infos(ByteCursor& cursor) {
  StreamerInfos infos;
  ReferenceTable references;
  const VersionHeader list = read_version(cursor, "streamer info TList");
  skip_tobject(cursor);
  cursor.tstring("TList::fName");
  const std::int32_t count = cursor.i32("TList size");
  if (count < 0) cursor.fail("corrupted streamer info list");
  for (std::int32_t i = 0; i < count; ++i) {
    ObjectSlot slot = begin_object(cursor, references);
    if (slot.kind == ObjectSlot::Kind::Object) {
      if (slot.class_name == "TStreamerInfo") {
        StreamerClass described;
        read_version(cursor, "TStreamerInfo");
        described.name = read_tnamed(cursor).name;
        cursor.u32("TStreamerInfo::fCheckSum");
        described.version = cursor.i32("TStreamerInfo::fClassVersion");
        ObjectSlot array = begin_object(cursor, references);
        if (array.kind == ObjectSlot::Kind::Object) {
          read_version(cursor, "TObjArray");
          skip_tobject(cursor);
          cursor.tstring("TObjArray::fName");
          const std::int32_t elements = cursor.i32("TObjArray size");
          cursor.i32("TObjArray lower bound");
          if (elements < 0) cursor.fail("corrupted TStreamerInfo element list");
          for (std::int32_t e = 0; e < elements; ++e) {
            ObjectSlot element = begin_object(cursor, references);
            if (element.kind != ObjectSlot::Kind::Object) continue;
            described.elements.push_back(read_streamer_element(cursor, element.class_name));
            cursor.seek(element.end, "streamer element");
          }
          cursor.seek(array.end, "TObjArray");
        }
        infos[described.name] = std::move(described);
      }
      cursor.seek(slot.end, "streamer info entry");
    }
    cursor.tstring("TList option");
  }
  if (list.has_byte_count) cursor.seek(list.end, "streamer info TList");
  return infos;
}

}  // namespace deepjet::root
