// deepjet/io/root/object_buffer.hpp: the framing ROOT's TBufferFile puts around objects.
//
// Contract: read_version() decodes a class-version header (with or without byte count) and
// ObjectSlot/begin_object() decodes a polymorphic object pointer (null, reference to an earlier
// object, or new object with its class given by name or by reference to an earlier class tag).
// The reference table follows ROOT's numbering (position of the tag in the key + kMapOffset) so
// references inside one record resolve. Malformed headers throw deepjet::FileError; nothing here
// reads outside the cursor's range.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "deepjet/io/root/byte_cursor.hpp"

namespace deepjet::root {

inline constexpr std::uint32_t kByteCountMask = 0x40000000;
inline constexpr std::uint32_t kClassMask = 0x80000000;
inline constexpr std::uint32_t kNewClassTag = 0xFFFFFFFF;
inline constexpr std::int64_t kMapOffset = 2;

/// A class-version header. `end` is the cursor position just past the object when the writer
/// recorded a byte count (always, for objects written by ROOT >= 3).
struct VersionHeader {
  std::int16_t version = 0;
  bool has_byte_count = false;
  std::size_t end = 0;
};

inline VersionHeader read_version(ByteCursor& cursor, std::string_view what) {
  VersionHeader header;
  const std::size_t start = cursor.position();
  const std::uint32_t first = cursor.u32(what);
  if (first & kByteCountMask) {
    const std::size_t byte_count = first & ~kByteCountMask;
    header.has_byte_count = true;
    header.end = start + 4 + byte_count;
    if (byte_count < 2 || header.end > cursor.size()) {
      cursor.fail("invalid byte count " + std::to_string(byte_count) + " in " + std::string(what));
    }
    header.version = cursor.i16(what);
  } else {
    cursor.seek(start, what);
    header.version = cursor.i16(what);
  }
  return header;
}

/// Moves to the end of an object whose header carried a byte count.
inline void skip_to_end(ByteCursor& cursor, const VersionHeader& header, std::string_view what) {
  if (!header.has_byte_count) cursor.fail("cannot skip " + std::string(what) + " without byte count");
  if (cursor.position() > header.end) {
    cursor.fail(std::string(what) + " is longer than its byte count");
  }
  cursor.seek(header.end, what);
}

/// TObject: version, unique id, bits (and a process id when referenced).
/// Skips a TObject; returns its fBits (0 when it carries a byte count instead).
inline std::uint32_t skip_tobject(ByteCursor& cursor) {
  const VersionHeader header = read_version(cursor, "TObject");
  if (header.has_byte_count) {
    skip_to_end(cursor, header, "TObject");
    return 0;
  }
  cursor.u32("TObject::fUniqueID");
  const std::uint32_t bits = cursor.u32("TObject::fBits");
  constexpr std::uint32_t kIsReferenced = 1u << 4;
  if (bits & kIsReferenced) cursor.u16("TObject process id");
  return bits;
}

struct Named {
  std::string name;
  std::string title;
  std::uint32_t bits = 0;  // TObject::fBits (TStreamerElement::kHasRange is bit 6)
};

inline Named read_tnamed(ByteCursor& cursor) {
  const VersionHeader header = read_version(cursor, "TNamed");
  Named named;
  named.bits = skip_tobject(cursor);
  named.name = cursor.tstring("TNamed::fName");
  named.title = cursor.tstring("TNamed::fTitle");
  if (header.has_byte_count) skip_to_end(cursor, header, "TNamed");
  return named;
}

/// Skips a versioned base class or member object using its byte count (TAttLine, TAttFill...).
inline void skip_versioned(ByteCursor& cursor, std::string_view what) {
  const VersionHeader header = read_version(cursor, what);
  skip_to_end(cursor, header, what);
}

/// What the reference table remembers: a class (for class tags) or an object's class and name.
struct Reference {
  bool is_class = false;
  std::string class_name;
  std::string object_name;
};
using ReferenceTable = std::unordered_map<std::int64_t, Reference>;

/// A decoded object pointer. For kind == Object the caller reads the object body, then seeks to
/// `end`; `map_key` lets it record the object's name for later references.
struct ObjectSlot {
  enum class Kind { Null, Reference, Object } kind = Kind::Null;
  std::string class_name;
  std::string object_name;  // for references: the referenced object's name, if known
  std::size_t end = 0;
  std::int64_t map_key = 0;
};

inline ObjectSlot begin_object(ByteCursor& cursor, ReferenceTable& references) {
  ObjectSlot slot;
  const std::size_t begin_position = cursor.position();
  const std::int64_t begin_displacement = cursor.displacement();
  std::uint32_t byte_count = cursor.u32("object header");
  std::uint32_t tag = 0;
  std::int64_t tag_displacement = 0;
  if (!(byte_count & kByteCountMask) || byte_count == kNewClassTag) {
    tag = byte_count;
    byte_count = 0;
  } else {
    byte_count &= ~kByteCountMask;
    tag_displacement = cursor.displacement();
    tag = cursor.u32("object class tag");
  }
  if (!(tag & kClassMask)) {
    if (tag == 0) return slot;  // null pointer
    slot.kind = ObjectSlot::Kind::Reference;
    auto found = references.find(tag);
    if (found != references.end()) {
      slot.class_name = found->second.class_name;
      slot.object_name = found->second.object_name;
    }
    if (byte_count != 0) cursor.seek(begin_position + 4 + byte_count, "object reference");
    return slot;
  }
  if (byte_count == 0) cursor.fail("object without byte count is not supported");
  slot.end = begin_position + 4 + byte_count;
  if (slot.end > cursor.size()) cursor.fail("object byte count overruns its record");
  if (tag == kNewClassTag) {
    slot.class_name = cursor.cstring("class name");
    references[tag_displacement + kMapOffset] = Reference{true, slot.class_name, {}};
  } else {
    auto found = references.find(static_cast<std::int64_t>(tag & ~kClassMask));
    if (found == references.end() || !found->second.is_class) {
      cursor.fail("object refers to an unknown class tag");
    }
    slot.class_name = found->second.class_name;
  }
  slot.kind = ObjectSlot::Kind::Object;
  slot.map_key = begin_displacement + kMapOffset;
  references[slot.map_key] = Reference{false, slot.class_name, {}};
  return slot;
}

}  // namespace deepjet::root
