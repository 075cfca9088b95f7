#include <nanobind/stl/string.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "bindings/bindings.h"
#include "format/decode.h"
#include "format/huffman.h"

namespace eie::bindings {
namespace {

format::EntryArrays entry_arrays(In1<uint8_t>& codes, In1<uint8_t>& rel_index,
                                 In1<int64_t>& pe_offset, In2<int64_t>& col_ptr, int64_t rows,
                                 int64_t cols, int64_t codebook_size, int64_t index_bits) {
  const int64_t num_pes = static_cast<int64_t>(pe_offset.shape(0)) - 1;
  EIE_CHECK(num_pes >= 1, "pe_offset should hold num_pes + 1 >= 2 values");
  EIE_CHECK(rel_index.shape(0) == codes.shape(0),
            "codes and rel_index should have the same length");
  EIE_CHECK(rows >= 0 && cols >= 0 && cols < INT64_MAX, "rows and cols should be non-negative");
  EIE_CHECK(static_cast<int64_t>(col_ptr.shape(0)) == num_pes &&
            static_cast<int64_t>(col_ptr.shape(1)) == cols + 1,
        "col_ptr should have shape (num_pes, cols + 1) = (" + std::to_string(num_pes) + ", " +
            std::to_string(cols + 1) + ")");
  return format::EntryArrays{codes.data(),     rel_index.data(), static_cast<int64_t>(codes.shape(0)),
                             pe_offset.data(), col_ptr.data(),   num_pes,
                             rows,             cols,             codebook_size,
                             index_bits};
}

void decode_to_codes(In1<uint8_t> codes, In1<uint8_t> rel_index, In1<int64_t> pe_offset,
                     In2<int64_t> col_ptr, int64_t rows, int64_t cols, Out2<uint8_t> out,
                     int64_t codebook_size, int64_t index_bits) {
  const auto a =
      entry_arrays(codes, rel_index, pe_offset, col_ptr, rows, cols, codebook_size, index_bits);
  EIE_CHECK(static_cast<int64_t>(out.shape(0)) == rows &&
                static_cast<int64_t>(out.shape(1)) == cols,
            "out should have shape (rows, cols)");
  nb::gil_scoped_release release;
  format::decode_to_codes(a, out.data());
}

void validate_entries(In1<uint8_t> codes, In1<uint8_t> rel_index, In1<int64_t> pe_offset,
                      In2<int64_t> col_ptr, int64_t rows, int64_t cols, int64_t codebook_size,
                      int64_t index_bits) {
  const auto a =
      entry_arrays(codes, rel_index, pe_offset, col_ptr, rows, cols, codebook_size, index_bits);
  nb::gil_scoped_release release;
  format::validate_entries(a);
}

void huffman_decode(In1<uint8_t> data, int64_t nbits, In1<uint8_t> lengths, Out1<uint8_t> out) {
  const int64_t count = static_cast<int64_t>(out.shape(0));
  const uint8_t* d = data.data();
  const int64_t nbytes = static_cast<int64_t>(data.shape(0));
  const uint8_t* l = lengths.data();
  const int64_t alphabet = static_cast<int64_t>(lengths.shape(0));
  uint8_t* o = out.data();
  nb::gil_scoped_release release;
  format::huffman_decode(d, nbytes, nbits, l, alphabet, count, o);
}

}  // namespace

void register_format(nb::module_& m) {
  m.def("decode_to_codes", &decode_to_codes, nb::arg("codes").noconvert(),
        nb::arg("rel_index").noconvert(), nb::arg("pe_offset").noconvert(),
        nb::arg("col_ptr").noconvert(), nb::arg("rows"), nb::arg("cols"),
        nb::arg("out").noconvert(), nb::arg("codebook_size") = 256, nb::arg("index_bits") = 8,
        "Validate EIE entry arrays and write each real entry's code into out (rows, cols), "
        "which must be zeroed. Raises ValueError on inconsistent arrays.");
  m.def("validate_entries", &validate_entries, nb::arg("codes").noconvert(),
        nb::arg("rel_index").noconvert(), nb::arg("pe_offset").noconvert(),
        nb::arg("col_ptr").noconvert(), nb::arg("rows"), nb::arg("cols"),
        nb::arg("codebook_size") = 256, nb::arg("index_bits") = 8,
        "Every array checked (sizes without overflow, pointers, code and index ranges, rows) "
        "before any walk: raises ValueError on inconsistent arrays.");
  m.def("huffman_decode", &huffman_decode, nb::arg("data").noconvert(), nb::arg("nbits"),
        nb::arg("lengths").noconvert(), nb::arg("out").noconvert(),
        "Decode len(out) symbols of a canonical Huffman stream (MSB first, the first nbits bits "
        "of data; one uint8 code length per symbol, at most 256 symbols) into out. The code and "
        "the sizes are checked before out is written; raises ValueError on a bad code, a bit "
        "pattern that is no code word or a stream too short.");
  m.def(
      "max_u8",
      [](In1<uint8_t> a, const std::string& isa) {
        Isa which = isa.empty() ? active_isa() : parse_isa(isa);
        EIE_CHECK(static_cast<int>(which) <= static_cast<int>(best_isa()),
                  "this CPU does not support ISA '" + isa + "'");
        const uint8_t* p = a.data();
        const int64_t n = static_cast<int64_t>(a.shape(0));
        return format::max_u8(p, n, which);
      },
      nb::arg("a").noconvert(), nb::arg("isa") = "",
      "Largest byte of a uint8 array (0 if empty), with the given ISA or the active one.");
}

}  // namespace eie::bindings
