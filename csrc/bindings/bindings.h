// The one Python module `eie._core`. Each layer of the core registers its functions from its own
// file (bindings/format.cpp, bindings/engine.cpp, bindings/sim.cpp) so the bindings stay thin and
// short; module.cpp is the single place that assembles them.
//
// Conventions for every binding:
// - arrays are nb::ndarray<const T, nb::ndim<..>, nb::c_contig, nb::device::cpu> and the argument
//   is .noconvert(): a wrong dtype or a non-contiguous array fails loudly instead of being copied;
// - Python allocates outputs, C++ fills them;
// - C++ throws std::invalid_argument for bad input, which surfaces as ValueError (eie wraps it in a
//   typed eie.errors exception); kernels never print or exit. Bindings check their input with
//   EIE_CHECK below, the one throw helper.
#pragma once
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <string>

// Bad input from Python unless `ok`: throws std::invalid_argument(msg), a ValueError in Python.
// A macro so that the message is only built when the check fails (building it on every call
// cost ~1 us).
#define EIE_CHECK(ok, msg)                             \
  do {                                                 \
    if (!(ok)) ::eie::bindings::invalid_argument(msg); \
  } while (0)

namespace nb = nanobind;

namespace eie::bindings {

template <typename T>
using In1 = nb::ndarray<const T, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
template <typename T>
using In2 = nb::ndarray<const T, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
template <typename T>
using Out1 = nb::ndarray<T, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
template <typename T>
using Out2 = nb::ndarray<T, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

// Throws std::invalid_argument(msg) (bindings/common.cpp); use it through EIE_CHECK.
[[noreturn]] void invalid_argument(const std::string& msg);

void register_common(nb::module_& m);
void register_format(nb::module_& m);
void register_encode(nb::module_& m);  // bindings/encode.cpp
void register_engine(nb::module_& m);  // bindings/engine.cpp
void register_sim(nb::module_& m);     // bindings/sim.cpp
void register_llm(nb::module_& m);     // bindings/llm.cpp

}  // namespace eie::bindings
