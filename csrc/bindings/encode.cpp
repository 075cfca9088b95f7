// Bindings of the linear-time EIE encoder (csrc/format/encode.h): EIEMatrix.from_codes and
// with_num_pes run here. Outputs are numpy arrays that own the C++ vectors (no copy).
#include <nanobind/stl/tuple.h>

#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bindings/bindings.h"
#include "format/encode.h"

namespace eie::bindings {
namespace {

template <typename T>
nb::ndarray<nb::numpy, T> to_numpy(std::vector<T>&& v, std::vector<size_t> shape) {
  auto* heap = new std::vector<T>(std::move(v));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(heap->data(), shape.size(), shape.data(), owner);
}

using EncodedTuple = std::tuple<nb::ndarray<nb::numpy, uint8_t>, nb::ndarray<nb::numpy, uint8_t>,
                                nb::ndarray<nb::numpy, int64_t>, nb::ndarray<nb::numpy, int64_t>>;

EncodedTuple as_tuple(format::Encoded&& e, int64_t num_pes, int64_t cols) {
  const size_t n = e.codes.size();
  return {to_numpy(std::move(e.codes), {n}), to_numpy(std::move(e.rel_index), {n}),
          to_numpy(std::move(e.pe_offset), {static_cast<size_t>(num_pes + 1)}),
          to_numpy(std::move(e.col_ptr),
                   {static_cast<size_t>(num_pes), static_cast<size_t>(cols + 1)})};
}

EncodedTuple encode_codes(In2<uint8_t> codes, int64_t num_pes, int index_bits) {
  const int64_t rows = static_cast<int64_t>(codes.shape(0));
  const int64_t cols = static_cast<int64_t>(codes.shape(1));
  format::Encoded e;
  {
    nb::gil_scoped_release release;
    e = format::encode_codes(codes.data(), rows, cols, num_pes, index_bits);
  }
  return as_tuple(std::move(e), num_pes, cols);
}

EncodedTuple reencode(In1<uint8_t> codes, In1<uint8_t> rel_index, In1<int64_t> pe_offset,
                      In2<int64_t> col_ptr, int64_t rows, int64_t cols, int64_t num_pes,
                      int index_bits) {
  const int64_t old_pes = static_cast<int64_t>(pe_offset.shape(0)) - 1;
  EIE_CHECK(old_pes >= 1 && rel_index.shape(0) == codes.shape(0) &&
                static_cast<int64_t>(col_ptr.shape(0)) == old_pes &&
                static_cast<int64_t>(col_ptr.shape(1)) == cols + 1 && rows >= 0 && cols >= 0,
            "inconsistent EIE array shapes");
  const format::EntryArrays a{codes.data(), rel_index.data(), static_cast<int64_t>(codes.shape(0)),
                              pe_offset.data(), col_ptr.data(), old_pes, rows, cols};
  format::Encoded e;
  {
    nb::gil_scoped_release release;
    e = format::reencode(a, num_pes, index_bits);
  }
  return as_tuple(std::move(e), num_pes, cols);
}

}  // namespace

void register_encode(nb::module_& m) {
  m.def("encode_codes", &encode_codes, nb::arg("codes").noconvert(), nb::arg("num_pes"),
        nb::arg("index_bits"),
        "EIE arrays (codes, rel_index, pe_offset, col_ptr) of a (rows, cols) uint8 code matrix "
        "over num_pes PEs: two row-major passes.");
  m.def("reencode", &reencode, nb::arg("codes").noconvert(), nb::arg("rel_index").noconvert(),
        nb::arg("pe_offset").noconvert(), nb::arg("col_ptr").noconvert(), nb::arg("rows"),
        nb::arg("cols"), nb::arg("num_pes"), nb::arg("index_bits"),
        "The same weights' EIE arrays for another PE count / index width, computed on the "
        "entries (no dense matrix). ValueError on inconsistent arrays.");
}

}  // namespace eie::bindings
