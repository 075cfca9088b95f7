#include <nanobind/stl/string.h>

#include <stdexcept>
#include <string>

#include "bindings/bindings.h"
#include "common/cpu_features.h"

namespace eie::bindings {

void invalid_argument(const std::string& msg) { throw std::invalid_argument(msg); }

void register_common(nb::module_& m) {
  m.def("cpu_features", [] {
    const auto& f = cpu_features();
    nb::dict d;
    d["avx2"] = f.avx2;
    d["avx512"] = f.avx512;
    d["avx512_bf16"] = f.avx512_bf16;
    d["avx512_vnni"] = f.avx512_vnni;
    d["amx_bf16"] = f.amx_bf16;
    return d;
  }, "What this CPU supports, as detected by CPUID/XGETBV.");
  m.def("best_isa", [] { return std::string(isa_name(best_isa())); });
  m.def("active_isa", [] { return std::string(isa_name(active_isa())); },
        "The ISA kernels use now (best supported unless lowered by set_active_isa or EIE_ISA).");
  m.def("set_active_isa", [](const std::string& name) { set_active_isa(parse_isa(name)); },
        nb::arg("name"), "Force 'scalar', 'avx2' or 'avx512'; ValueError if unsupported.");
}

}  // namespace eie::bindings
